rule tables:
    input:
        model=MODEL_DIR,
        inputs=rules.inputs.output.inputs,
        embeddings=rules.embedding_lig.output.attributions,
        subembeddings=rules.subembedding_lig.output.attributions,
        conductance=lambda wildcards: conductance_files(wildcards.batch),
    output:
        **{table: table_part(table) for table in PART1_TABLES},
    log:
        "results/logs/tables/{batch}.log",
    benchmark:
        "results/benchmarks/tables/{batch}.tsv"
    conda:
        "../../environment.yml"
    params:
        code=code_digest("provenance.py", "tables.py", "tensor_io.py"),
        examples=batch_examples,
        tables=PART1_TABLES,
        n_steps=config["n_steps"],
        procedure=config["procedure"],
    script:
        "../../scripts/build_tables.py"


rule table_datasets:
    input:
        **table_parts(*TABLES),
    output:
        manifest=TABLES_MANIFEST,
    log:
        "results/logs/table_datasets.log",
    conda:
        "../../environment.yml"
    params:
        code=code_digest(),
        tables=TABLES,
        datasets=[TABLE_DATASET.format(table=table) for table in TABLES],
    script:
        "../../scripts/index_tables.py"


rule table_previews:
    input:
        manifest=rules.table_datasets.output.manifest,
    output:
        previews=[
            report(
                f"results/tables/{table}.html",
                caption="../report/tables.rst",
                category="Tables",
            )
            for table in TABLES
        ],
    log:
        "results/logs/table_previews.log",
    conda:
        "../../environment.yml"
    params:
        **figure_params(),
        code=code_digest("figures.py"),
        tables=TABLES,
        max_rows=500,
    script:
        "../../scripts/table_previews.py"
