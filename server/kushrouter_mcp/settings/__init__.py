"""The bottom layer: every setting, the secrets (API key, identities, scrubbing) and stderr logging."""
