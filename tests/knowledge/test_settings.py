from knowledge.settings import SearchSettings
from manifest.schema import SufficiencyConfig


def test_manifest_defaults_are_the_code_defaults() -> None:
    assert SufficiencyConfig().min_confidence == SearchSettings().min_confidence
