"""Topic discussions in groups (主题讨论) and study reflections (学习心得): services and exports."""
