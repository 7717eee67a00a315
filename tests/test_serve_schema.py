"""Fuzz the server's OpenAPI schema with schemathesis against a live server: no input may cause a 5xx.

Bounded (a fixed number of generated requests per operation and mode, no deadline), so it runs in seconds. Both
valid requests (positive mode) and requests that break the schema (negative mode) are sent; every refusal must be a
4xx in the JSON error layout, with a message.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from llmimg.pipeline.generate import Pipeline
from llmimg.serve.app import create_app
from llmimg.serve.background import running
from llmimg.serve.config import ServerConfig

EXAMPLES = 12  # per operation and generation mode


def errors_are_explained(ctx, response, case):
    """Every refusal says why, in the OpenAI error layout."""
    if 400 <= response.status_code < 500:
        message = response.json()["error"]["message"]
        assert isinstance(message, str) and message, f"{response.status_code} without a message"


@pytest.mark.slow
def test_no_input_causes_a_server_error(tiny_model_path, text_encoder):
    pipeline = Pipeline.load(tiny_model_path, text_encoder, device="cpu")
    with running(create_app(pipeline, ServerConfig(max_wait_ms=0))) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/v1/images/generations", "/sdapi/v1/txt2img", "/generate",
                                                  "/interpolate", "/health", "/v1/models", "/metrics",
                                                  "/v1/models/{model_id}", "/sdapi/v1/sd-models",
                                                  "/v1/images/edits", "/v1/images/variations", "/sdapi/v1/img2img"}
        calls, with_inputs = [], 0
        for operation in operations:
            has_inputs = bool(len(operation.query) or operation.body)  # a path parameter has no invalid form
            with_inputs += has_inputs
            modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_inputs else (GenerationMode.POSITIVE,)
            for mode in modes:
                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
                def fuzz(case):
                    calls.append(case.call_and_validate(checks=[not_a_server_error, errors_are_explained]).status_code)

                fuzz()
        assert len(calls) >= with_inputs * EXAMPLES  # the fuzzing really ran
