# Part 2 of the tutorial (attention: true): per batch and group of attention_layers_per_job layers, attention
# probabilities, their conductance and the attention norms (the tables step writes the Part 2 tables).


rule attention:
    input:
        model=MODEL_DIR,
        inputs=rules.inputs.output.inputs,
    output:
        attention=ATTENTION,
    log:
        "results/logs/attention/{batch}/{group}.log",
    benchmark:
        "results/benchmarks/attention/{batch}/{group}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        **auto_settings(config),
        n_steps=config["n_steps"],
        internal_batch_size=config["internal_batch_size"],
        device=config["device"],
        target=config["target"],
        procedure=config["procedure"],
        precision=config["precision"],
        fused_activations=config["fused_activations"],
        code=step_code("attention_conductance"),
        examples=batch_examples,
        layers=lambda wildcards: layer_groups_of_model("attention_layers_per_job")[
            wildcards.group
        ],
        chosen_layer=lambda wildcards: chosen_layer_in(wildcards.group),
        figure_examples=lambda wildcards: FIGURE_BATCHES.get(wildcards.batch, []),
    script:
        step_script("attention_conductance")


rule attention_summary:
    input:
        attention_heads=table_parts("attention_heads")["attention_heads"],
    output:
        figure=summary_figure(
            "attention_conductance_by_head", "summary_attention_conductance_by_head"
        ),
    log:
        "results/logs/attention_summary.log",
    benchmark:
        "results/benchmarks/attention_summary.tsv"
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
        code=step_code("plot_attention_summary"),
    script:
        step_script("plot_attention_summary")
