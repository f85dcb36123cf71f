"""The ground of the project: frozen configuration dataclasses, presets and every validation rule. Imports nothing
of the project."""
