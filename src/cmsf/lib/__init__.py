"""Small helpers shared by the Django apps; they import nothing of cmsf's own."""
