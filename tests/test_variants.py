"""The one mechanism for keypoint vs image variants (weakpose.methods.base.Variants): the
registry name stays, ``config.variant`` picks the Method subclass, former config keys still load."""

import pytest

from weakpose.engine.config import config_from_dict, resolve_config
from weakpose.errors import InputError
from weakpose.methods.registry import get_method

FAMILIES = {
    "multiview": ("MultiviewMethod", "ImageMultiviewMethod"),
    "distill": ("KeypointDistillMethod", "ImageDistillMethod"),
    "flows-ws": ("FlowsWSMethod", "ImageFlowsWSMethod"),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_variant_picks_the_class(name):
    family = get_method(name)
    for variant, cls_name in zip(("keypoint", "image"), FAMILIES[name]):
        cls = family.method_class(family.Config(variant=variant))
        assert (cls.__name__, cls.variant, cls.name, cls.Config) == (cls_name, variant, name, family.Config)
    with pytest.raises(InputError, match=f"key 'variant': 'video' is not a variant of {name}"):
        family.method_class(family.Config(variant="video"))


@pytest.mark.parametrize("name, old_key", [("distill", "student"), ("flows-ws", "net")])
def test_former_variant_keys_still_load(name, old_key):
    """Checkpoints and configs written before the variant key was unified keep working."""
    Config = get_method(name).Config
    assert config_from_dict(Config, {old_key: "image"}).variant == "image"
    assert resolve_config(Config, None, [f"{old_key}=image"]).variant == "image"


def test_a_variant_class_refuses_another_variants_config(tmp_path):
    from weakpose.methods.multiview.method import MultiviewConfig, MultiviewMethod

    with pytest.raises(ValueError, match="registry's METHOD"):
        MultiviewMethod(MultiviewConfig(variant="image"), tmp_path)
