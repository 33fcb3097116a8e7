"""The live server: protocols, validation, batching, the prediction log."""
