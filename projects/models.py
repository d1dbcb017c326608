"""Design-support projects: models arrive with the projects issue."""
