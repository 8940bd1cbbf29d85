"""The Captum tutorial "Interpreting BERT Models (Part 2)", ported faithfully as one plain function.

The yardstick of bertscope's attention steps: the tests check that the pipeline's attention tables equal what this
computes. It follows the notebook's procedure (one LayerConductance call per layer and target; LayerActivation
for the value vectors; the norms through the notebook's einsum, which materialises α f(x)), with the changes that
current transformers requires or that the notebook hard-codes:

- the model is loaded with ``attn_implementation="eager"`` (SDPA returns no attention weights);
- ``BertLayer`` returns one tensor in transformers 5, so the conductance of the attention probabilities (the
  notebook's ``layer_attributions[1]``) comes from ``encoder.layer[i].attention.self``, whose second output is
  the attention probabilities, and the layer output's (``[0]``) from ``encoder.layer[i]``;
- the word embeddings are looked up with the embedding module (the notebook's
  ``configure_interpretable_embedding_layer`` does the same lookup);
- heads and head size come from the model's config (the notebook: 12 and 64);
- it returns numbers instead of plots, and ``n_steps`` is a parameter (the notebook: captum's default, 50).

Token types as in the notebook (and in Part 1): the first ``[SEP]`` gets type 1.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import LayerActivation, LayerConductance
from transformers import BertForQuestionAnswering, BertTokenizer

QUESTION = "What is important to us?"
CONTEXT = "It is important to us to include, empower and support humans of all kinds."


def load(model_path, device="cpu"):
    model = BertForQuestionAnswering.from_pretrained(model_path, attn_implementation="eager")
    model.to(torch.device(device))
    model.eval()
    model.zero_grad()
    return model, BertTokenizer.from_pretrained(model_path, do_lower_case=False)


def run_part2(model_path, question=QUESTION, text=CONTEXT, layer=None, n_steps=50, device="cpu", loaded=None):
    """Everything Part 2 computes, as numpy arrays; ``layer`` is the notebook's 0-based chosen layer (default the
    last, as the notebook's ``layer = 11``)."""
    device = torch.device(device)
    model, tokenizer = loaded or load(model_path, device)
    layer = model.config.num_hidden_layers - 1 if layer is None else layer
    norm_fn = torch.linalg.norm

    def predict(inputs, token_type_ids=None, position_ids=None, attention_mask=None):
        output = model(
            inputs,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            attention_mask=attention_mask,
            output_attentions=True,
        )
        return output.start_logits, output.end_logits, output.attentions

    def squad_pos_forward_func(inputs, token_type_ids=None, position_ids=None, attention_mask=None, position=0):
        pred = model(
            inputs_embeds=inputs,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            attention_mask=attention_mask,
        )
        pred = pred[position]
        return pred.max(1).values

    ref_token_id, sep_token_id, cls_token_id = tokenizer.pad_token_id, tokenizer.sep_token_id, tokenizer.cls_token_id
    question_ids = tokenizer.encode(question, add_special_tokens=False)
    text_ids = tokenizer.encode(text, add_special_tokens=False)
    input_ids = [cls_token_id] + question_ids + [sep_token_id] + text_ids + [sep_token_id]  # noqa: RUF005 (as in the notebook)
    ref_input_ids = (
        [cls_token_id] + [ref_token_id] * len(question_ids) + [sep_token_id] + [ref_token_id] * len(text_ids)
    ) + [sep_token_id]
    input_ids = torch.tensor([input_ids], device=device)
    ref_input_ids = torch.tensor([ref_input_ids], device=device)
    sep_ind = len(question_ids)
    seq_len = input_ids.size(1)
    token_type_ids = torch.tensor([[0 if i <= sep_ind else 1 for i in range(seq_len)]], device=device)
    position_ids = torch.arange(seq_len, dtype=torch.long, device=device).unsqueeze(0).expand_as(input_ids)
    attention_mask = torch.ones_like(input_ids)

    _, _, output_attentions = predict(
        input_ids, token_type_ids=token_type_ids, position_ids=position_ids, attention_mask=attention_mask
    )
    output_attentions_all = torch.stack(output_attentions)  # layer x batch x head x seq_len x seq_len

    def summarize_attributions(attributions):
        attributions = attributions.sum(dim=-1).squeeze(0)
        return attributions / norm_fn(attributions)

    word_embeddings = model.bert.embeddings.word_embeddings
    input_embeddings, ref_input_embeddings = word_embeddings(input_ids), word_embeddings(ref_input_ids)

    layer_attrs = {0: [], 1: []}
    layer_attn_mat = {0: [], 1: []}
    for i in range(model.config.num_hidden_layers):
        for position in (0, 1):
            arguments = (token_type_ids, position_ids, attention_mask, position)
            output_conductance = LayerConductance(squad_pos_forward_func, model.bert.encoder.layer[i]).attribute(
                inputs=input_embeddings,
                baselines=ref_input_embeddings,
                additional_forward_args=arguments,
                n_steps=n_steps,
            )
            attention_conductance = LayerConductance(
                squad_pos_forward_func, model.bert.encoder.layer[i].attention.self
            ).attribute(
                inputs=input_embeddings,
                baselines=ref_input_embeddings,
                additional_forward_args=arguments,
                n_steps=n_steps,
            )
            layer_attrs[position].append(summarize_attributions(output_conductance))
            layer_attn_mat[position].append(attention_conductance[1])
    layer_attn_mat = {position: torch.stack(mats) for position, mats in layer_attn_mat.items()}

    num_heads = model.config.num_attention_heads
    all_head_size = model.config.hidden_size
    head_size = all_head_size // num_heads
    layers = [model.bert.encoder.layer[i].attention.self.value for i in range(len(model.bert.encoder.layer))]
    la = LayerActivation(squad_pos_forward_func, layers)
    value_layer_acts = la.attribute(
        input_embeddings, additional_forward_args=(token_type_ids, position_ids, attention_mask)
    )
    value_layer_acts = torch.stack(value_layer_acts)  # layer x batch x seq_len x all_head_size
    value_layer_acts = value_layer_acts.view(*value_layer_acts.size()[:-1], num_heads, head_size)
    shape = value_layer_acts.size()
    value_layer_acts = value_layer_acts.view((*shape[:-1], 1, shape[-1]))  # layer x batch x seq x heads x 1 x head
    dense_acts = torch.stack([dlayer.attention.output.dense.weight for dlayer in model.bert.encoder.layer])
    dense_acts = dense_acts.view(len(layers), all_head_size, num_heads, head_size).permute(0, 2, 3, 1).contiguous()
    f_x = torch.stack([acts.matmul(dense) for acts, dense in zip(value_layer_acts, dense_acts, strict=True)])
    f_x = f_x.view((*f_x.size()[:-2], f_x.size()[-1])).permute(0, 1, 3, 2, 4).contiguous()
    f_x_norm = norm_fn(f_x, dim=-1)  # layers x batch x heads x seq
    alpha_f_x = torch.einsum("lbhks,lbhsd->lbhksd", output_attentions_all, f_x)
    alpha_f_x_norm = norm_fn(alpha_f_x, dim=-1)  # layers x batch x heads x seq x seq
    summed_alpha_f_x_norm = norm_fn(alpha_f_x.sum(dim=2), dim=-1)  # layers x batch x seq x seq

    def numpy(tensor):
        return tensor.detach().cpu().numpy()

    return {
        "tokens": tokenizer.convert_ids_to_tokens(input_ids[0].tolist()),
        "layer": layer,
        "attention": numpy(output_attentions_all[layer].squeeze(0)),
        "attention_head_norm": numpy(norm_fn(output_attentions_all, dim=2).squeeze(1)),
        **{f"layer_attrs_{name}": numpy(torch.stack(layer_attrs[p])) for p, name in ((0, "start"), (1, "end"))},
        **{
            f"attn_conductance_{name}": numpy(layer_attn_mat[p][layer].squeeze(0))
            for p, name in ((0, "start"), (1, "end"))
        },
        **{
            f"attn_conductance_head_norm_{name}": numpy(norm_fn(layer_attn_mat[p], dim=2).squeeze(1))
            for p, name in ((0, "start"), (1, "end"))
        },
        "f_x_norm": numpy(f_x_norm.squeeze(1)),
        "alpha_f_x_norm": numpy(alpha_f_x_norm[layer].squeeze(0)),
        "summed_alpha_f_x_norm": numpy(summed_alpha_f_x_norm.squeeze(1)),
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--n-steps", type=int, default=50)
    args = parser.parse_args()
    results = run_part2(args.model, n_steps=args.n_steps)
    for name, value in results.items():
        print(name, np.shape(value) if not isinstance(value, (list, int)) else value)
