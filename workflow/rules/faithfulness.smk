# Faithfulness of the token maps (issue 20): its own cached rule per batch, so that turning it on or changing its
# settings reruns no attribution.


rule faithfulness:
    input:
        model=MODEL_DIR,
        inputs=rules.inputs.output.inputs,
        embeddings=rules.embedding_lig.output.attributions,
        subembeddings=rules.subembedding_lig.output.attributions,
        conductance=lambda wildcards: conductance_files(wildcards.batch),
        attention=lambda wildcards: (
            attention_files(wildcards.batch) if config["attention"] else []
        ),
    output:
        **{table: table_part(table) for table in FAITHFULNESS_TABLES},
    log:
        "results/logs/faithfulness/{batch}.log",
    benchmark:
        "results/benchmarks/faithfulness/{batch}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        code=step_code("faithfulness"),
        examples=batch_examples,
        tables=FAITHFULNESS_TABLES,
        device=config["device"],
        precision=config["precision"],
        fused_activations=config["fused_activations"],
        internal_batch_size=config["internal_batch_size"],
        target=config["target"],
        n_steps=config["n_steps"],
        procedure=config["procedure"],
        percent=config["faithfulness_percent"],
        reference=config["faithfulness_reference"],
        protect=config["faithfulness_protect"],
        random_seeds=config["faithfulness_random_seeds"],
    script:
        step_script("faithfulness")


FAITHFULNESS_FIGURE_PARAMS = {
    **figure_params(),
    "reference": config["faithfulness_reference"],
    "protect": config["faithfulness_protect"],
}


rule faithfulness_figures:
    input:
        curves=table_part("faithfulness_curves"),
        loo=table_part("loo_agreement"),
    output:
        figures=report(
            directory(FAITHFULNESS_FIGURES),
            patterns=["{example}/{name}.png"],
            caption="../report/example_faithfulness.rst",
            category="{example}",
        ),
    log:
        "results/logs/faithfulness_figures/{batch}.log",
    benchmark:
        "results/benchmarks/faithfulness_figures/{batch}.tsv"
    conda:
        "../../environment.yml"
    params:
        **FAITHFULNESS_FIGURE_PARAMS,
        code=step_code("plot_faithfulness"),
        examples=lambda wildcards: FIGURE_BATCHES[wildcards.batch],
        figure_formats=config["figure_formats"],
    script:
        step_script("plot_faithfulness")


rule faithfulness_summary:
    input:
        curves=table_parts("faithfulness_curves")["faithfulness_curves"],
        loo=table_parts("loo_agreement")["loo_agreement"],
    output:
        faithfulness_curves=summary_figure(
            "faithfulness_curves", "summary_faithfulness_curves"
        ),
        loo_agreement=summary_figure("loo_agreement", "summary_loo_agreement"),
    log:
        "results/logs/faithfulness_summary.log",
    benchmark:
        "results/benchmarks/faithfulness_summary.tsv"
    conda:
        "../../environment.yml"
    params:
        **FAITHFULNESS_FIGURE_PARAMS,
        code=step_code("plot_faithfulness"),
    script:
        step_script("plot_faithfulness")


# The sanity check (cascading randomisation) for the examples sanity_check covers (SANITY_BATCHES, common.smk):
# figure examples or all, one job and one part of its table per batch that holds any.


rule sanity_cascade:
    input:
        model=MODEL_DIR,
        inputs=rules.inputs.output.inputs,
    output:
        table=table_part("sanity_cascade"),
    log:
        "results/logs/sanity_cascade/{batch}.log",
    benchmark:
        "results/benchmarks/sanity_cascade/{batch}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        **auto_settings(config),
        code=step_code("sanity_cascade"),
        examples=lambda wildcards: SANITY_BATCHES[wildcards.batch],
        n_steps=config["n_steps"],
        internal_batch_size=config["internal_batch_size"],
        device=config["device"],
        precision=config["precision"],
        fused_activations=config["fused_activations"],
        procedure=config["procedure"],
        target=config["target"],
        seed=config["sanity_seed"],
    script:
        step_script("sanity_cascade")


rule sanity_summary:
    input:
        parts=table_parts("sanity_cascade")["sanity_cascade"],
    output:
        figure=summary_figure("sanity_cascade", "summary_sanity_cascade"),
    log:
        "results/logs/sanity_summary.log",
    benchmark:
        "results/benchmarks/sanity_summary.tsv"
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
        code=step_code("plot_sanity"),
        seed=config["sanity_seed"],
    script:
        step_script("plot_sanity")
