"""Price prediction: supervised windows, models (LSTM, scikit-learn, stacking), evaluation, drift, promotion.

Pure functions over polars frames and numpy arrays; torch is imported inside the functions that
train or run the LSTM, so importing this package (Dagster loading the code location) stays cheap.
"""
