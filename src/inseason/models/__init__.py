"""Model zoo behind one registry: neural networks on ``(values, mask, doy)`` tensors and tree baselines.

``create_model(name, *, n_bands, n_steps, n_classes, **hyper)`` builds any registered architecture;
``list_models()`` names them; ``model_spec``/``model_from_spec`` record and rebuild one for a bundle;
``parameter_count`` sizes one.
Importing this package registers every architecture below.
"""

from inseason.models import (
    arset,
    arset_slide,
    classical,
    ensemble,
    inceptiontime,
    ltae,
    recurrent,
    rocket,
    tempcnn,
    transformer,
)
from inseason.models.registry import (
    ADAPTERS,
    Model,
    ModelInfo,
    create_model,
    list_models,
    model_from_spec,
    model_info,
    model_spec,
    parameter_count,
    register_model,
)

__all__ = [
    "ADAPTERS",
    "Model",
    "ModelInfo",
    "arset",
    "arset_slide",
    "classical",
    "create_model",
    "ensemble",
    "inceptiontime",
    "list_models",
    "ltae",
    "model_from_spec",
    "model_info",
    "model_spec",
    "parameter_count",
    "recurrent",
    "register_model",
    "rocket",
    "tempcnn",
    "transformer",
]
