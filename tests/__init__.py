import pytest

# Shared helpers (tests/helpers/) assert as test modules do: pytest explains their failures too.
pytest.register_assert_rewrite("tests.helpers")
