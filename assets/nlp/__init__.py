"""NLP assets: texts in (landing folder, API batches), languages detected, translations, the model and its quality."""
