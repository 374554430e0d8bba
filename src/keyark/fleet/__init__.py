"""The fleet: agents enrolled with a server (enrolment, assigned config, pinned HTTPS)."""
