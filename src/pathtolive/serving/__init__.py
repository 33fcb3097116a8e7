"""The live server: protocols, validation, batching and deployments (the prediction log it
writes is :mod:`pathtolive.predlog`)."""
