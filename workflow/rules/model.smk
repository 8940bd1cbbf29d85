from bertscope.models.demo_files import planned_inputs  # noqa: E402

# model: demo's shipped files (models/demo) and their manifest: changing one reruns the model step.
try:
    DEMO_INPUTS = planned_inputs(config["model"])
    LOCAL_MODEL_FILES = local_model_files(config["model"])
except BertscopeError as error:
    raise WorkflowError(str(error)) from None


checkpoint model:
    input:
        local_model=LOCAL_MODEL_FILES,
        demo_manifest=DEMO_INPUTS["demo_manifest"],
        demo_files=DEMO_INPUTS["demo_files"],
    output:
        model=directory(MODEL_DIR),
    log:
        "results/logs/model.log",
    benchmark:
        "results/benchmarks/model.tsv"
    conda:
        "../../environment.yml"
    params:
        code=step_code("prepare_model"),
        # A function, since for a local model the path is also the prefix of the input files.
        model=lambda wildcards: config["model"],
        revision=config["model_revision"],
    script:
        step_script("prepare_model")
