"""The Telegram side: handlers, keyboards, rendering, i18n lookup. The only code importing
``telegram``."""
