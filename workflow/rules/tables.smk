# One job per batch writes its part of every Part 1 table and, with attention: true, of every Part 2 table (one job,
# not two: fewer jobs per example; a Part 2 setting reruns the Part 1 tables too, seconds of CPU per batch).
rule tables:
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
        **{table: table_part(table) for table in BATCH_TABLES},
    log:
        "results/logs/tables/{batch}.log",
    benchmark:
        "results/benchmarks/tables/{batch}.tsv"
    conda:
        "../../environment.yml"
    params:
        **auto_settings(config),
        code=step_code("build_tables"),
        examples=batch_examples,
        tables=BATCH_TABLES,
        target=config["target"],
        n_steps=config["n_steps"],
        procedure=config["procedure"],
        precision=config["precision"],
        fused_activations=config["fused_activations"],
        attention_layer=config["attention_layer"] if config["attention"] else None,
    script:
        step_script("build_tables")


rule table_datasets:
    input:
        **table_parts(*TABLES),
    output:
        manifest=TABLES_MANIFEST,
    log:
        "results/logs/table_datasets.log",
    benchmark:
        "results/benchmarks/table_datasets.tsv"
    conda:
        "../../environment.yml"
    params:
        code=step_code("index_tables"),
        tables=TABLES,
        datasets=[TABLE_DATASET.format(table=table) for table in TABLES],
    script:
        step_script("index_tables")


rule table_previews:
    input:
        manifest=rules.table_datasets.output.manifest,
    output:
        previews=[
            report(
                TABLE_PREVIEW.format(table=table),
                caption="../report/tables.rst",
                category="Tables",
            )
            for table in TABLES
        ],
    log:
        "results/logs/table_previews.log",
    benchmark:
        "results/benchmarks/table_previews.tsv"
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
        code=step_code("table_previews"),
        tables=TABLES,
        max_rows=500,
    script:
        step_script("table_previews")
