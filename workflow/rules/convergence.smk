# The convergence figure (issue 20): the embedding LIG of the figure examples at the ladder n_steps_min, twice that,
# ..., n_steps_max, whatever n_steps is: its own cached rule per batch with figure examples, so that changing the
# ladder reruns nothing else.


rule convergence_ladder:
    input:
        model=MODEL_DIR,
        inputs=rules.inputs.output.inputs,
    output:
        table=table_part("convergence_ladder"),
    log:
        "results/logs/convergence_ladder/{batch}.log",
    benchmark:
        "results/benchmarks/convergence_ladder/{batch}.tsv"
    conda:
        "../../environment.yml"
    threads: config["threads_per_job"]
    resources:
        gpu=1,
    params:
        code=step_code("convergence_ladder"),
        examples=lambda wildcards: FIGURE_BATCHES[wildcards.batch],
        n_steps_min=config["n_steps_min"],
        n_steps_max=config["n_steps_max"],
        internal_batch_size=config["internal_batch_size"],
        device=config["device"],
        precision=config["precision"],
        fused_activations=config["fused_activations"],
        procedure=config["procedure"],
        target=config["target"],
    script:
        step_script("convergence_ladder")


rule convergence_summary:
    input:
        parts=table_parts("convergence_ladder")["convergence_ladder"],
    output:
        figure=summary_figure("convergence", "summary_convergence"),
    log:
        "results/logs/convergence_summary.log",
    benchmark:
        "results/benchmarks/convergence_summary.tsv"
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
        code=step_code("plot_convergence"),
        n_steps_min=config["n_steps_min"],
        n_steps_max=config["n_steps_max"],
        n_steps_tolerance=config["n_steps_tolerance"],
    script:
        step_script("plot_convergence")
