"""The Captum tutorial "Interpreting BERT Models (Part 1)", ported faithfully as one plain script.

It is the yardstick of bertscope: the benchmark times it against the pipeline, and the tests check that the
pipeline's tables equal what it computes. It keeps the tutorial's procedure (separate captum calls for the start
and the end target, one LayerConductance call per layer and target), its quirks included: the notebook passes
``len(question_ids)`` as the separator's index, one short (``[CLS]`` comes first), so its first ``[SEP]`` gets token
type 1; and conductance feeds the embedding output back as ``inputs_embeds``. bertscope's default procedure
(``tutorial``) does the same; ``corrected`` does neither. It differs from the notebook in two ways:

- it returns numbers instead of showing plots and tables;
- ``n_steps`` is a parameter (the notebook uses captum's default, 50).

    python tests/oracles/tutorial_procedure.py MODEL_DIR [--n-steps 50] [--threads N] [--examples examples.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from captum.attr import LayerConductance, LayerIntegratedGradients
from transformers import BertForQuestionAnswering, BertTokenizer

QUESTION = "What is important to us?"
CONTEXT = "It is important to us to include, empower and support humans of all kinds."
GROUND_TRUTH = "to include, empower and support humans of all kinds"


def load(model_path, device="cpu"):
    """The tutorial's model and tokenizer."""
    model = BertForQuestionAnswering.from_pretrained(model_path)
    model.to(torch.device(device))
    model.eval()
    model.zero_grad()
    tokenizer = BertTokenizer.from_pretrained(model_path, do_lower_case=False)
    return model, tokenizer


def run_tutorial(
    model_path,
    question=QUESTION,
    text=CONTEXT,
    ground_truth=GROUND_TRUTH,
    token_to_explain=23,
    n_steps=50,
    device="cpu",
    loaded=None,
):
    """Everything the tutorial computes, as numpy arrays (start and end kept apart, as in the notebook).

    ``loaded`` is a (model, tokenizer) pair from :func:`load`, to explain several examples with one model;
    ``token_to_explain=None`` explains the answer's last token.
    """
    device = torch.device(device)
    model, tokenizer = loaded or load(model_path, device)

    def predict(inputs, token_type_ids=None, position_ids=None, attention_mask=None):
        output = model(inputs, token_type_ids=token_type_ids, position_ids=position_ids, attention_mask=attention_mask)
        return output.start_logits, output.end_logits

    def squad_pos_forward_func(inputs, token_type_ids=None, position_ids=None, attention_mask=None, position=0):
        pred = predict(inputs, token_type_ids=token_type_ids, position_ids=position_ids, attention_mask=attention_mask)
        pred = pred[position]
        return pred.max(1).values

    ref_token_id = tokenizer.pad_token_id
    sep_token_id = tokenizer.sep_token_id
    cls_token_id = tokenizer.cls_token_id

    def construct_input_ref_pair(question, text):
        question_ids = tokenizer.encode(question, add_special_tokens=False)
        text_ids = tokenizer.encode(text, add_special_tokens=False)
        input_ids = [cls_token_id] + question_ids + [sep_token_id] + text_ids + [sep_token_id]  # noqa: RUF005 (as in the notebook)
        ref_input_ids = (
            [cls_token_id]
            + [ref_token_id] * len(question_ids)
            + [sep_token_id]
            + [ref_token_id] * len(text_ids)
            + [sep_token_id]
        )
        return torch.tensor([input_ids], device=device), torch.tensor([ref_input_ids], device=device), len(question_ids)

    def construct_input_ref_token_type_pair(input_ids, sep_ind=0):
        seq_len = input_ids.size(1)
        token_type_ids = torch.tensor([[0 if i <= sep_ind else 1 for i in range(seq_len)]], device=device)
        ref_token_type_ids = torch.zeros_like(token_type_ids, device=device)
        return token_type_ids, ref_token_type_ids

    def construct_input_ref_pos_id_pair(input_ids):
        seq_length = input_ids.size(1)
        position_ids = torch.arange(seq_length, dtype=torch.long, device=device)
        ref_position_ids = torch.zeros(seq_length, dtype=torch.long, device=device)
        position_ids = position_ids.unsqueeze(0).expand_as(input_ids)
        ref_position_ids = ref_position_ids.unsqueeze(0).expand_as(input_ids)
        return position_ids, ref_position_ids

    def construct_whole_bert_embeddings(input_ids, ref_input_ids, token_type_ids=None, position_ids=None):
        input_embeddings = model.bert.embeddings(input_ids, token_type_ids=token_type_ids, position_ids=position_ids)
        ref_input_embeddings = model.bert.embeddings(
            ref_input_ids, token_type_ids=token_type_ids, position_ids=position_ids
        )
        return input_embeddings, ref_input_embeddings

    def summarize_attributions(attributions):
        attributions = attributions.sum(dim=-1).squeeze(0)
        return attributions / torch.norm(attributions)

    input_ids, ref_input_ids, sep_id = construct_input_ref_pair(question, text)
    token_type_ids, ref_token_type_ids = construct_input_ref_token_type_pair(input_ids, sep_id)
    position_ids, ref_position_ids = construct_input_ref_pos_id_pair(input_ids)
    attention_mask = torch.ones_like(input_ids)
    indices = input_ids[0].detach().tolist()
    all_tokens = tokenizer.convert_ids_to_tokens(indices)
    ground_truth_tokens = tokenizer.encode(ground_truth, add_special_tokens=False)
    ground_truth_end_ind = indices.index(ground_truth_tokens[-1])
    ground_truth_start_ind = ground_truth_end_ind - len(ground_truth_tokens) + 1
    if token_to_explain is None:
        token_to_explain = ground_truth_end_ind

    start_scores, end_scores = predict(
        input_ids, token_type_ids=token_type_ids, position_ids=position_ids, attention_mask=attention_mask
    )
    result = {
        "tokens": all_tokens,
        "true_start": ground_truth_start_ind,
        "true_end": ground_truth_end_ind,
        "predicted_start": int(torch.argmax(start_scores)),
        "predicted_end": int(torch.argmax(end_scores)),
        "start_prob": float(torch.max(torch.softmax(start_scores[0].detach(), dim=0))),
        "end_prob": float(torch.max(torch.softmax(end_scores[0].detach(), dim=0))),
    }

    lig = LayerIntegratedGradients(squad_pos_forward_func, model.bert.embeddings)
    for position, target in enumerate(("start", "end")):
        attributions, delta = lig.attribute(
            inputs=input_ids,
            baselines=ref_input_ids,
            additional_forward_args=(token_type_ids, position_ids, attention_mask, position),
            return_convergence_delta=True,
            n_steps=n_steps,
        )
        result[f"embeddings_{target}"] = summarize_attributions(attributions).detach().cpu().numpy()
        result[f"delta_{target}"] = float(delta)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        lig2 = LayerIntegratedGradients(
            squad_pos_forward_func,
            [
                model.bert.embeddings.word_embeddings,
                model.bert.embeddings.token_type_embeddings,
                model.bert.embeddings.position_embeddings,
            ],
        )
    for position, target in enumerate(("start", "end")):
        attributions = lig2.attribute(
            inputs=(input_ids, token_type_ids, position_ids),
            baselines=(ref_input_ids, ref_token_type_ids, ref_position_ids),
            additional_forward_args=(attention_mask, position),
            n_steps=n_steps,
        )
        for name, attribution in zip(("word", "token_type", "position"), attributions, strict=True):
            result[f"{name}_{target}"] = summarize_attributions(attribution).detach().cpu().numpy()

    def squad_pos_forward_func2(input_emb, attention_mask=None, position=0):
        pred = model(inputs_embeds=input_emb, attention_mask=attention_mask)
        pred = pred[position]
        return pred.max(1).values

    layer_attrs = {"start": [], "end": []}
    layer_attrs_dist = {"start": [], "end": []}
    input_embeddings, ref_input_embeddings = construct_whole_bert_embeddings(
        input_ids, ref_input_ids, token_type_ids=token_type_ids, position_ids=position_ids
    )
    for i in range(model.config.num_hidden_layers):
        lc = LayerConductance(squad_pos_forward_func2, model.bert.encoder.layer[i])
        for position, target in enumerate(("start", "end")):
            layer_attributions = lc.attribute(
                inputs=input_embeddings,
                baselines=ref_input_embeddings,
                additional_forward_args=(attention_mask, position),
                n_steps=n_steps,
            )
            layer_attrs[target].append(summarize_attributions(layer_attributions).cpu().detach().tolist())
            layer_attrs_dist[target].append(layer_attributions[0, token_to_explain, :].cpu().detach().tolist())

    for target in ("start", "end"):
        result[f"layers_{target}"] = np.array(layer_attrs[target])
        dist = np.array(layer_attrs_dist[target])
        result[f"distribution_{target}"] = dist
        pdf = np.array([np.histogram(row, bins=100, density=True)[0] for row in dist])
        norm = np.linalg.norm(pdf, axis=-1, ord=1)
        pdf = np.divide(np.transpose(pdf), norm, out=np.transpose(pdf).copy(), where=norm != 0)
        pdf[pdf == 0] = 1
        result[f"total_attribution_{target}"] = dist.sum(-1)
        result[f"entropy_{target}"] = -(pdf * np.log2(pdf)).sum(0)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--device", default=None, help="torch device (default: the tutorial's choice, cuda:0 if there is one, else cpu)"
    )
    parser.add_argument(
        "--examples",
        help="a JSON list of {question, context, answer} to explain in turn with one model (default: the tutorial's)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda:0" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    if args.examples:
        loaded = load(args.model_dir, device)
        for example in json.loads(Path(args.examples).read_text()):
            run_tutorial(
                args.model_dir,
                question=example["question"],
                text=example["context"],
                ground_truth=example["answer"],
                token_to_explain=None,
                n_steps=args.n_steps,
                device=device,
                loaded=loaded,
            )
    else:
        run_tutorial(args.model_dir, n_steps=args.n_steps, device=device)
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
