"""Lambda entry points (``handlers.<name>.handler``): thin composition roots over
:mod:`factorial_aws.aws.wiring`, one per function of ``template.yaml``."""
