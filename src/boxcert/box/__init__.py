"""The box agent: its own key, the certificate check, loading, atomic install, status."""
