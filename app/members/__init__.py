"""Project membership: who belongs to which project, in which role (below ``auth``, which
asks it on every project-scoped request)."""
