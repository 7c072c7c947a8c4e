"""Adapters: each implements a port with one technology (scikit-learn, MLflow, pandas...)."""
