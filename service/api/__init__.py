"""The firelane web service: JSON API for operators, property staff and police (FastAPI).

``service.api.app.create_app`` builds the application; ``service.api.cli.add_commands`` adds
``firelane serve`` and ``firelane db upgrade``. Nothing heavy is imported here, so the CLI stays quick.
"""
