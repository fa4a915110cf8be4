"""studybot: a Telegram bot that runs the study programme of an office or party branch."""

__version__ = "0.1.0"
