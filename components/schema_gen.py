"""CuratedSchemaGen: the curated schema of the configured world, built at run time (logformat/tf_schema.py).

ImportSchemaGen imports one fixed file; the schema of a world depends on its knobs (the number of generated features),
so this component writes `logformat.tf_schema.world_schema(config.world)` (the checked-in core schema plus the world's
fields, same rules) as a Schema artifact (`<uri>/schema.pbtxt`, as ImportSchemaGen and SchemaGen write it). It reads
nothing but its `world_json` exec property, so Kubeflow runs it in the pipeline image as well.
"""

# No `from __future__ import annotations`: TFX parses the @component annotations at import time.
import os

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from config.settings import WorldConfig, section_from_json
from logformat.tf_schema import world_schema

SCHEMA_FILE = "schema.pbtxt"


@component
def CuratedSchemaGen(schema: OutputArtifact[standard_artifacts.Schema], world_json: Parameter[str]) -> None:
    """Writes the curated schema of the world `world_json` (section_json of a WorldConfig)."""
    world = section_from_json(WorldConfig, world_json, "world")
    io_utils.write_pbtxt_file(os.path.join(schema.uri, SCHEMA_FILE), world_schema(world))
