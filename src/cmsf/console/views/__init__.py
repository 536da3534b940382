"""The console's views, one module per section; each module lists its own `urlpatterns`.

A section is a module here, its templates under `templates/console/<section>/` and a line in
`cmsf.console.sections`; `cmsf.console.urls` joins the modules' URL patterns.
"""
