"""The platform's foundation: settings, database, errors, principals and security, clock, HTTP plumbing."""
