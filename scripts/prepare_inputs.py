"""Tokenize a batch of examples, build the input/reference tensors of their explained units (each example's
prediction window, and with explain_windows: all its other windows), and record the model's predictions."""

from bertscope.data.prepare import prepare_example
from bertscope.models.loading import configure_torch, load_model, load_tokenizer, resolve_device
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import save_batch


def main(smk):
    configure_torch(smk.threads)
    device = resolve_device(smk.params.device)
    tokenizer = load_tokenizer(smk.input.model)
    model = load_model(smk.input.model, device, fused_activations=smk.params.fused_activations)
    units = {}  # the batch's explained units: each example's, and with explain_windows: all its other windows
    for example_id, example in smk.params.examples.items():
        units.update(prepare_example(tokenizer, model, device, example_id, example, smk.params))
    save_batch(smk.output.inputs, units)


if __name__ == "__main__":
    run_step(main, globals())
