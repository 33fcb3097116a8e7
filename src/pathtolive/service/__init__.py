"""One module per operation; each checks the actor's role and audits what it changes."""
