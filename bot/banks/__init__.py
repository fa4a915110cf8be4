"""Question banks: read YAML/XLSX/CSV files into validated banks, import them with versions,
list and export them. Nothing here imports ``telegram``; the CLI and the chat share it."""
