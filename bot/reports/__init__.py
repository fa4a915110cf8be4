"""Participation summaries: figures computed once, rendered as text, XLSX, DOCX and charts."""
