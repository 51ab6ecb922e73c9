from knowledge.settings import SearchSettings
from manifest.schema import SufficiencyConfig


def test_manifest_defaults_are_the_code_defaults() -> None:
    settings, manifest = SearchSettings(), SufficiencyConfig()
    assert manifest.min_term_coverage == settings.min_coverage
    assert manifest.min_top_score == settings.min_score
