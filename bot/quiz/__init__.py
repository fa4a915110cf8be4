"""Quizzes: private-chat attempts (daily, weekly, special, challenge, review) and group live quizzes."""
