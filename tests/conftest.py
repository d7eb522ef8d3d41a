"""Shared fixtures and test-run settings.

The suite never touches the network: models load from installed packages and the
concept dictionary is built from local vocabularies and ../shared/datasets.
"""
import os

import pytest

pytest.register_assert_rewrite("tests.contract.graph_store_contract")

# Belt and braces: any attempt to reach a model hub fails fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
