"""A deliberately broken ocrkit plugin: its entry point module fails to import."""
