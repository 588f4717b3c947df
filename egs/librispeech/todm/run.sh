#!/usr/bin/env bash
# TODM recipe: train one MH-SSM RNN-T supernet, then search, decode and export many subnets.
#
# Usage:
#   ./run.sh                                  # whole pipeline on the embedded (synthesized) corpus
#   ./run.sh --dl-dir /data                   # on a real LibriSpeech copy in /data/LibriSpeech
#   ./run.sh --dl-dir /data --profile librispeech \
#       --train-parts train-clean-100,train-clean-360,train-other-500   # the 960 h GPU recipe
#   ./run.sh --stage 1 --stop-stage 3         # only some stages
#   ./run.sh --profile tiny                   # a CI-sized corpus, for a quick look
#   ./run.sh --streaming true                 # streaming subnets: a causal supernet in exp-streaming/
#   ./run.sh --kaldi-data-dirs train-clean-100=/k/data/train,dev-clean=/k/data/dev,...
#
# Stages:
#   0  corpus: synthesize the embedded corpus into download/LibriSpeech (skipped with --dl-dir); make the
#      augmentation data: noise clips (unless --musan-dir) and room impulse responses -> download/{noise,rirs}
#   1  manifests: lhotse prepare_librispeech (or Kaldi data-dir import)  -> data/manifests
#   2  features: 80-dim Kaldi fbank, lilcom, with reverberant copies of half the training cuts; fbank of
#      the noise that training mixes in (MUSAN or the embedded clips)   -> data/fbank
#   3  BPE: sentencepiece                                                 -> data/lang_bpe_<vocab-size>
#   4  train the supernet (train.py; resumes from the newest checkpoint)  -> exp/
#      (default profile: its first 1,500 steps on the clean espeak-ng part, --warmup-steps)
#   5  evolutionary subnet search under device budgets (conf/budgets.yaml) -> exp/search/
#   6  decode the largest, smallest and searched subnets (greedy + beam)  -> exp/<method>/
#   7  export each of them (standalone .pt, sherpa-onnx ONNX fp32 + int8) -> exp/exported/<subnet>/
#   8  learning curve (WER vs training minutes) and RESULTS.md             -> exp/, RESULTS.md, docs/
# Opt-in (the default --stop-stage is 8), each re-writes RESULTS.md:
#   9  one-by-one baselines: each searched architecture as its own model (own init, parameters, optimizer),
#      dropout chosen on dev from a grid, trained for the supernet's number of optimizer steps, then decoded
#      and exported the same way as the subnet                           -> exp-baseline-<subnet>-dropout-<p>/
#  10  ablations: the supernet recipe with one technique off (no KD, fixed dropout, Adam, no sandwich),
#      the supernet's number of steps (or --ablation-steps), largest/smallest decoded on the gap curve and
#      compared with the supernet's own gap curve at the same step     -> exp-ablation-<name>/
#  11  the gap curve: every searched subnet from the supernet and its baseline, decoded every 1,000 steps;
#      and the SSM time scales each subnet's heads cover on both sides -> <dir>/gap-curve.json,
#                                                                           exp/time-scales.json
#  12  recipe attempts (--attempts "name:train.py options;..."): the supernet recipe changed, trained for
#      --attempt-steps and decoded on the gap curve, compared with the baselines at that step
#                                                                        -> exp-attempt-<name>/
# Each stage skips finished work (.done markers, per-part outputs) and can be re-run after a crash; stages 9-11
# also skip the baselines and ablations that an earlier session archived (see write_results).

set -euo pipefail

stage=0
stop_stage=8
dl_dir=""            # empty: use the embedded corpus; else a directory holding LibriSpeech/
profile=default      # corpus/training size: default | tiny | librispeech (the GPU recipe)
seed=42
nj=2
vocab_size=""       # empty: 500 (64 with --profile tiny)
perturb_speed=""     # empty: false (true with --profile librispeech, as icefall's LibriSpeech recipes)
kaldi_data_dirs=""   # part=dir,... of Kaldi data dirs to import instead of a LibriSpeech corpus
train_parts=""       # empty: train-clean-100 (or the first Kaldi dir); several: comma-separated
eval_parts=""        # empty: dev-clean,dev-other,test-clean,test-other (+ test-heldout on the embedded corpus)
noise=true           # mix noise into half the training cuts at 10-20 dB SNR (lhotse CutMix, as icefall)
musan_dir=""         # MUSAN (music/, noise/) for --noise; empty: the embedded noise clips (stage 0)
reverb_fraction=""   # reverberant copies of this fraction of training cuts; empty: 0.5 (0 with --profile librispeech)
exp_dir=exp
streaming=false      # true: a causal supernet (train.py --causal true) in <exp-dir>-streaming, decoded in chunks
                     # with carried states and exported as sherpa-onnx streaming models (docs/streaming.md)
decode_chunk_len=32  # --streaming: feature frames per chunk (32 = 320 ms; plus 40 ms of look-ahead)
model_config=""     # empty: cpu_small (tiny with --profile tiny); or a preset name / JSON file
world_size=""       # empty: 2 DDP processes (gloo on CPU; 1 with --profile tiny, whose few batches drop_last eats)
train_steps=""      # empty: the profile's number of optimizer steps (the same model on any machine)
train_minutes=""    # empty: no wall-time limit; else stop training after this many minutes as well
warmup_steps=""     # the first N steps on the warm-up part (clean speech of one engine, no noise or reverberant
                    # copies; docs/reproducibility.md), then the full training parts; empty: 1500 with the
                    # default profile, 0 (off) otherwise
max_duration=""     # empty: 40 s of audio per optimizer step, split over the processes (GPU: 600 s per GPU)
num_epochs=""       # empty: 100, i.e. the step limit decides (30 with --profile librispeech: epochs decide)
train_args=""       # extra train.py options, e.g. "--use-kd false"
search_args="--population 6 --generations 4"   # 24 evaluations per device profile, shared cache
baseline_dropouts="0.0 0.05 0.1"  # stage 9: each baseline's dropout is the best of these on dev (greedy WER)
baseline_grid_steps=3000          # ... compared after this many steps; the best run continues to the end
gap_every=1000                    # stage 11: decode every this many optimizer steps
ablation_steps=""                 # stage 10: each ablation trained this many steps (a multiple of --gap-every);
                                  # empty: the supernet's
attempts=""                       # stage 12: "name:train.py options;..." e.g. "kd-only:--student-label-scale 0"
attempt_steps=3000                # ... each trained this many steps (a multiple of --gap-every)
budgets=conf/budgets-relative.yaml   # the device profiles, relative: fit any preset
publish=false        # true: write the repository's RESULTS.md, docs/*.png and docs/results/<profile> (default
                     # profile only); false: exp/RESULTS.md, exp/docs and exp/archive, the clone is left as it is

cd "$(dirname "$0")"
. ./path.sh
. shared/parse_options.sh || exit 1
for value in "stage=$stage" "stop-stage=$stop_stage"; do
  case ${value#*=} in
    ''|*[!0-9]*) echo "ERROR: --${value%%=*} '${value#*=}': expected a stage number (0-12)" >&2; exit 1 ;;
  esac
done
if [ "$stage" -gt "$stop_stage" ]; then
  echo "ERROR: --stage $stage is after --stop-stage $stop_stage: nothing would run" >&2
  exit 1
fi
if [ "$stage" -le 10 ] && [ "$stop_stage" -ge 10 ] && [ -n "$ablation_steps" ]; then
  case $ablation_steps in *[!0-9]*|0) echo "ERROR: --ablation-steps '$ablation_steps': expected a positive number" >&2; exit 1 ;; esac
  [ $((ablation_steps % gap_every)) -eq 0 ] || {
    echo "ERROR: --ablation-steps $ablation_steps: expected a multiple of --gap-every $gap_every" >&2; exit 1; }
fi
if [ "$stage" -le 12 ] && [ "$stop_stage" -ge 12 ]; then  # checked now, not after hours of stages 9-11
  [ -n "$attempts" ] || { echo "ERROR: stage 12: --attempts is empty (expected \"name:train.py options;...\")" >&2; exit 1; }
  case $attempt_steps in ''|*[!0-9]*|0) echo "ERROR: --attempt-steps '$attempt_steps': expected a positive number" >&2; exit 1 ;; esac
  [ $((attempt_steps % gap_every)) -eq 0 ] || {
    echo "ERROR: --attempt-steps $attempt_steps: expected a multiple of --gap-every $gap_every" >&2; exit 1; }
  IFS=';' read -ra tries <<< "$attempts"
  for try in "${tries[@]}"; do
    case ${try%%:*} in ''|*[!A-Za-z0-9._-]*)
      echo "ERROR: --attempts '$try': expected name:options, the name of letters, digits, . _ -" >&2; exit 1 ;;
    esac
    [ "${try#*:}" != "$try" ] || { echo "ERROR: --attempts '$try': expected name:options" >&2; exit 1; }
  done
fi

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

# Run a command and append it to <dir>/commands.txt (RESULTS.md quotes the commands behind each row).
logged() {  # dir command...
  local dir=$1; shift
  mkdir -p "$dir"
  echo "$*" >> "$dir/commands.txt"
  "$@"
}

# A non-default profile keeps its own corpus, data and exp dirs, so profiles never mix.
suffix=""
[ "$profile" = default ] || suffix="-$profile"
if [ "$profile" = tiny ]; then vocab_size=${vocab_size:-64}; else vocab_size=${vocab_size:-500}; fi
stream_args=""  # what stages 5-7 add for streaming subnets
if [ "$streaming" = true ]; then
  [ "$exp_dir" = exp ] && exp_dir=exp$suffix-streaming
  train_args="--causal true $train_args"
  stream_args="--decode-chunk-len $decode_chunk_len"
fi
[ "$exp_dir" = exp ] && exp_dir=exp$suffix

case $profile in
  tiny) default_model=tiny; default_steps=150; default_world_size=1; default_epochs=100; keep_last_k=0
     default_warmup=0 recipe_args="" ;;
  # The GPU recipe for LibriSpeech (or a corpus of that size): icefall's schedule (Eden with --lr-batches
  # 7500 --lr-epochs 3.5, train.py's defaults), 30 epochs, one DDP process per visible GPU with 600 s of audio
  # each, bf16 autocast where the GPU has it (else fp16 with a GradScaler), speed perturbation. Unverified:
  # it has not been trained yet (docs/gpu.md).
  librispeech) default_model=librispeech; default_steps=0; default_epochs=30; keep_last_k=30 default_warmup=0
     reverb_fraction=${reverb_fraction:-0}
     default_world_size=$(python3 -c "import torch; print(torch.cuda.device_count())")
     [ "$default_world_size" -ge 1 ] || [ -n "$world_size" ] || {
       echo "ERROR: --profile librispeech is the GPU recipe and this machine has no GPU torch can see" >&2; exit 1; }
     max_duration=${max_duration:-600}; perturb_speed=${perturb_speed:-true}
     amp=$(python3 -c "import torch; print('bf16' if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else 'fp16')")
     recipe_args="--use-$amp true --save-every-n 4000" ;;
  # The embedded corpus's epochs are short (~320 steps): Eden's epoch decay set for LibriSpeech epochs
  # (--lr-epochs 3.5) would halve the lr within minutes. The largest subnet alone leaves the blank-only phase
  # after ~900 steps at 2.3x the speed of sandwich steps (see earlier results), so the sandwich starts later.
  # On 2 cores, 2 DDP processes x 1 thread made 7-13% more updates per second than 1 process x 2 threads.
  # A fixed number of optimizer steps, so that every machine trains the same model (README gives the wall
  # time measured here); torch.compile fuses the KD loss (docs/training-speed.md). Every checkpoint-K.pt is
  # kept: stage 8's learning curve decodes them. The first 1,500 steps (the largest-only ones) train on clean
  # espeak-ng speech: with festival voices, noise and reverberation from the start the model stayed above 80% WER
  # for 3,000 steps, with this warm-up it was at 42.9% at step 3,000 (docs/reproducibility.md).
  default) default_model=cpu_small; default_steps=9000; default_world_size=2; default_epochs=100; keep_last_k=0
     default_warmup=1500
     recipe_args="--largest-only-batches 1500 --lr-epochs 10 --torch-compile true" ;;
  *) echo "ERROR: --profile $profile: expected default, tiny or librispeech" >&2; exit 1 ;;
esac
if [ "$profile" = librispeech ] && [ -z "$dl_dir" ] && [ -z "$kaldi_data_dirs" ]; then
  echo "ERROR: --profile librispeech needs a corpus: --dl-dir (holding LibriSpeech/) or --kaldi-data-dirs" >&2
  exit 1
fi
world_size=${world_size:-$default_world_size}
case $world_size in
  ''|*[!0-9]*|0) echo "ERROR: --world-size '$world_size': expected a number of processes >= 1" >&2; exit 1 ;;
esac
max_duration=${max_duration:-$((40 / world_size))}  # icefall's --max-duration is per process
model_config=${model_config:-$default_model}
train_steps=${train_steps:-$default_steps}
train_minutes=${train_minutes:-0}
num_epochs=${num_epochs:-$default_epochs}
perturb_speed=${perturb_speed:-false}
reverb_fraction=${reverb_fraction:-0.5}
warmup_steps=${warmup_steps:-$default_warmup}
case $warmup_steps in ''|*[!0-9]*) echo "ERROR: --warmup-steps '$warmup_steps': expected a number of steps >= 0" >&2; exit 1 ;; esac
if [ "$warmup_steps" -gt 0 ] && [ "$train_steps" -gt 0 ] && [ "$warmup_steps" -ge "$train_steps" ]; then
  echo "ERROR: --warmup-steps $warmup_steps: expected fewer than the $train_steps training steps" >&2; exit 1
fi
case $noise in true|false) ;; *) echo "ERROR: --noise '$noise': expected true or false" >&2; exit 1 ;; esac
if [ -n "$musan_dir" ] && [ ! -d "$musan_dir/music" ]; then
  echo "ERROR: --musan-dir $musan_dir: expected MUSAN's music/ and noise/ inside" >&2; exit 1
fi

if [ -z "$dl_dir" ]; then
  corpus_dir=$PWD/download$suffix/LibriSpeech
else
  corpus_dir=$dl_dir/LibriSpeech
fi
# The test sets stages 6-11 decode: test-heldout (test-clean's sentences by an engine training never hears)
# exists on the embedded corpus only.
test_sets=test-clean,test-other
if [ -z "$dl_dir" ] && [ -z "$kaldi_data_dirs" ]; then test_sets=$test_sets,test-heldout; fi
eval_parts=${eval_parts:-dev-clean,dev-other,$test_sets}
# Augmentation data made in stage 0 (noise clips, impulse responses), kept beside the corpus.
aug_dir=$PWD/download$suffix
noise_cuts=""
if [ "$noise" = true ]; then
  noise_cuts=$PWD/data$suffix/fbank/noise_cuts.jsonl.gz
  [ -z "$musan_dir" ] || noise_cuts=$PWD/data$suffix/fbank/musan_cuts.jsonl.gz
fi
if [ -n "$kaldi_data_dirs" ]; then
  # The part names are the ones given with the Kaldi dirs (first = training part, unless --train-parts).
  parts=$(echo "$kaldi_data_dirs" | tr ',' '\n' | cut -d= -f1 | paste -sd,)
  train_parts=${train_parts:-${parts%%,*}}
else
  train_parts=${train_parts:-train-clean-100}
  parts="$train_parts,$eval_parts"  # every part stages 1-2 prepare
fi
data_dir=data$suffix
manifest_dir=$data_dir/manifests
fbank_dir=$data_dir/fbank
lang_dir=$data_dir/lang_bpe_${vocab_size}
mkdir -p $data_dir

# A stage's .done marker holds what the stage was made from: a re-run with other inputs (another --dl-dir,
# other parts, another vocabulary size) must not reuse the old outputs silently.
stage_done() {  # marker made-from: true when the stage is done from the same inputs; error when from others
  local marker=$1 made_from=$2
  [ -f "$marker" ] || return 1
  if [ -s "$marker" ] && [ "$(cat "$marker")" != "$made_from" ]; then
    echo "ERROR: $marker: made from '$(cat "$marker")', but this run asks for '$made_from';" \
         "remove $(dirname "$marker") (and the stages after it) to redo it" >&2
    exit 1
  fi
}
mark_done() { echo "$2" > "$1"; }  # marker made-from

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  if [ -n "$kaldi_data_dirs" ]; then
    log "Stage 0: skipped (importing Kaldi data dirs in stage 1)"
  elif [ -z "$dl_dir" ]; then
    log "Stage 0: synthesize the embedded corpus ($profile profile) into $corpus_dir"
    ./local/prepare_embedded_corpus.py --dl-dir download$suffix --profile "$profile" --seed "$seed" \
      --num-jobs "$nj"
  else
    log "Stage 0: using $corpus_dir"
    if [ ! -d "$corpus_dir" ]; then
      echo "ERROR: --dl-dir $dl_dir: no LibriSpeech/ inside. This machine cannot download LibriSpeech;" \
           "put a copy there, or run without --dl-dir to synthesize the embedded corpus" >&2
      exit 1
    fi
  fi
  # Babble is made of training speech: the corpus's FLACs (none in Kaldi data dirs: then no babble).
  speech_dir=""
  [ -n "$kaldi_data_dirs" ] || speech_dir=$corpus_dir/${train_parts%%,*}
  clips=40 rirs=100
  [ "$profile" != tiny ] || { clips=3 rirs=4; }
  if [ "$noise" = true ] && [ -z "$musan_dir" ]; then
    log "Stage 0: embedded noise clips -> $aug_dir/noise"
    ./local/prepare_noise.py --speech-dir "$speech_dir" --noise-dir $aug_dir/noise --clips-per-kind $clips --seed "$seed"
  fi
  if [ "$reverb_fraction" != 0 ]; then
    log "Stage 0: simulated room impulse responses -> $aug_dir/rirs"
    ./local/prepare_noise.py --speech-dir "$speech_dir" --rir-dir $aug_dir/rirs --num-rirs $rirs --seed "$seed"
  fi
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: manifests -> $manifest_dir"
  made_from="parts=$parts ${kaldi_data_dirs:+kaldi=$kaldi_data_dirs}${kaldi_data_dirs:-corpus=$corpus_dir}"
  if stage_done $manifest_dir/.librispeech.done "$made_from"; then
    log "  $manifest_dir/.librispeech.done exists, skipping"
  elif [ -n "$kaldi_data_dirs" ]; then
    ./local/prepare_manifests.py --manifest-dir $manifest_dir --kaldi-data-dirs "$kaldi_data_dirs"
    mark_done $manifest_dir/.librispeech.done "$made_from"
  else
    ./local/prepare_manifests.py --corpus-dir "$corpus_dir" --manifest-dir $manifest_dir \
      --parts "$parts" --num-jobs "$nj"
    mark_done $manifest_dir/.librispeech.done "$made_from"
  fi
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: 80-dim fbank -> $fbank_dir"
  made_from="parts=$parts perturb_speed=$perturb_speed reverb_fraction=$reverb_fraction"
  if stage_done $fbank_dir/.librispeech.done "$made_from"; then
    log "  $fbank_dir/.librispeech.done exists, skipping"
  else
    ./local/compute_fbank.py --manifest-dir $manifest_dir --output-dir $fbank_dir \
      --parts "$parts" --num-jobs "$nj" --perturb-speed "$perturb_speed" \
      --reverb-fraction "$reverb_fraction" --rir-dir $aug_dir/rirs --seed "$seed"
    mark_done $fbank_dir/.librispeech.done "$made_from"
  fi
  if [ -n "$noise_cuts" ]; then
    log "  noise for CutMix -> $noise_cuts"
    if [ -n "$musan_dir" ]; then
      ./local/compute_fbank_noise.py --musan-dir "$musan_dir" --out $noise_cuts --num-jobs "$nj"
    else
      ./local/compute_fbank_noise.py --noise-dir $aug_dir/noise --out $noise_cuts --num-jobs "$nj"
    fi
  fi
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: BPE model (vocab $vocab_size) -> $lang_dir"
  made_from="train_parts=$train_parts vocab_size=$vocab_size"
  if stage_done $lang_dir/.done "$made_from"; then
    log "  $lang_dir/.done exists, skipping"
  else
    ./local/train_bpe_model.py --manifest-dir $manifest_dir --train-parts "$train_parts" \
      --lang-dir $lang_dir --vocab-size "$vocab_size"
    mark_done $lang_dir/.done "$made_from"
  fi
fi

# One training run: stage 4's supernet and stages 9-12's baselines, ablations and attempts, so all of them get the
# same data. With --warmup-steps, the first steps on the warm-up part of each training part (its clean cuts, of
# espeak-ng's speakers on the embedded corpus, every speaker of a real one; local/make_warmup_part.py), without
# noise, then the full parts; train.py starts a fresh epoch when the parts change.
train_run() {  # dir max_steps extra-train-options...
  local dir=$1 steps=$2 warm=$warmup_steps speakers="" part other; shift 2
  local common=(--exp-dir "$dir" --bpe-model $lang_dir/bpe.model --manifest-dir $fbank_dir
    --model-config "$model_config" --world-size "$world_size" --max-duration "$max_duration"
    --num-epochs "$num_epochs" --keep-last-k "$keep_last_k")
  # An ablation or attempt starts from the steps that the supernet, or an arm trained before, has already trained
  # where the arm's own options cannot act on them yet (local/shared_steps.py): its warm-up, and after it e.g. the
  # steps before its KD starts.
  local sources=(--source "$exp_dir")
  for other in ${exp_dir}-{ablation,attempt}-*; do
    if [ -d "$other" ] && [ "$other" != "$dir" ]; then sources+=(--source "$other"); fi
  done
  if [ "$warm" -gt 0 ]; then
    [ -n "$dl_dir" ] || [ -n "$kaldi_data_dirs" ] || speakers="--speakers-txt $corpus_dir/SPEAKERS.TXT"
    for part in ${train_parts//,/ }; do
      # shellcheck disable=SC2086
      ./local/make_warmup_part.py --manifest-dir $fbank_dir --part "$part" $speakers
    done
    if [ "$steps" -gt 0 ] && [ "$steps" -lt "$warm" ]; then warm=$steps; fi
    log "  warm-up: the first $warm steps on ${train_parts//,/-warmup,}-warmup"
    local warmup=("${common[@]}" --train-parts "${train_parts//,/-warmup,}-warmup" --max-steps "$warm")
    if [ "$dir" != "$exp_dir" ]; then
      # shellcheck disable=SC2086
      ./local/shared_steps.py "${sources[@]}" --steps "$warm" -- "${warmup[@]}" $recipe_args $train_args "$@"
    fi
    # shellcheck disable=SC2086
    logged "$dir" ./train.py "${warmup[@]}" $recipe_args $train_args "$@"
  fi
  local main=("${common[@]}" --train-parts "$train_parts" --max-steps "$steps")
  if [ "$dir" != "$exp_dir" ]; then
    # shellcheck disable=SC2086
    ./local/shared_steps.py --continue "${sources[@]}" -- "${main[@]}" $recipe_args --noise-cuts "$noise_cuts" \
      $train_args "$@"
  fi
  # shellcheck disable=SC2086
  logged "$dir" ./train.py "${main[@]}" $recipe_args --noise-cuts "$noise_cuts" $train_args "$@"
}

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: train the supernet ($model_config, $train_steps steps, $num_epochs epochs at most) -> $exp_dir"
  if [ -f $exp_dir/.train.done ]; then
    log "  $exp_dir/.train.done exists, skipping"
  else
    train_run $exp_dir "$train_steps" --max-train-minutes "$train_minutes"
    touch $exp_dir/.train.done
  fi
fi

# The newest checkpoint-K.pt: training stops on a time budget, so decoding uses --iter K, with the
# averaged model between it and the checkpoint before it (icefall's --use-averaged-model).
last_iter() {  # [dir]
  ./local/checkpoints.py --exp-dir "${1:-$exp_dir}" last-iter
}
subnets() { echo largest smallest; ls $exp_dir/search/subnet-*.json 2>/dev/null || true; }
ckpt_args() {  # [dir]
  # icefall's averaged model between the newest checkpoint and the 4th before it (its model_avg difference:
  # ~1,500 steps at --save-every-n 500). On dev-clean/dev-other of the 80-minute run that gave the largest subnet
  # 14.5/49.2% greedy WER vs 15.1/51.3% for --avg 2 and 19.6/58.5% for the raw weights (measured in earlier runs).
  # The newest checkpoint of a time-limited run may sit in the same --average-period as the one before it
  # (9096 after 9000), so averaging needs at least two saves back; with fewer checkpoints, the raw weights.
  local dir=${1:-$exp_dir} count avg=1 averaged=false
  count=$(./local/checkpoints.py --exp-dir "$dir" count)
  if [ "$count" -ge 3 ]; then avg=$((count > 4 ? 4 : count - 1)) averaged=true; fi
  echo "--exp-dir $dir --iter $(last_iter "$dir") --avg $avg --use-averaged-model $averaged"
}
# Results go to exp/RESULTS.md; with --publish true, the default profile's go to the repository's. The small
# outputs of every run (model cards, WER summaries, search, curves, costs; no checkpoint) are first archived
# (local/archive_results.py), and the page is written from the archive: it can be regenerated, and the
# comparisons continued, after the checkpoints are gone.
results=$exp_dir/RESULTS.md docs=$exp_dir/docs archive=$exp_dir/archive
if [ "$profile" = default ] && [ "$publish" = true ]; then
  results=../../../RESULTS.md docs=../../../docs archive=../../../docs/results/$profile
fi
write_results() {
  local runs
  runs=$( (ls -d $exp_dir ${exp_dir}-{baseline,ablation,attempt}-* 2>/dev/null || true) | paste -sd,)
  # a streaming run is compared with the full-utterance run of its profile, when that exists here too
  if [ "$streaming" = true ] && [ -d exp$suffix/greedy_search ]; then runs="$runs,exp$suffix"; fi
  ./local/archive_results.py --exp-dirs "$runs" --out $archive
  # A streaming run joins the page of its profile's full-utterance run (archived here or by an earlier run);
  # the page of a profile is about that run, with the streaming comparison as a section.
  local main=$archive/$(basename $exp_dir) extra=()
  if [ "$streaming" = true ] && [ -d $archive/exp$suffix ]; then
    main=$archive/exp$suffix extra=(--streaming-exp-dir $archive/$(basename $exp_dir))
  elif [ "$streaming" != true ] && [ -d $archive/$(basename $exp_dir)-streaming ]; then
    extra=(--streaming-exp-dir $archive/$(basename $exp_dir)-streaming)  # ... and the other way round
  fi
  # the run of the previous recipe, kept for the robustness comparison (published default profile only)
  if [ "$archive" = ../../../docs/results/$profile ] && [ -d ../../../docs/results/before-augmentation/exp ]; then
    extra+=(--before-exp-dir ../../../docs/results/before-augmentation/exp)
  fi
  ./local/write_results.py --exp-dir $main --out $results --docs-dir $docs \
    --command "egs/librispeech/todm/run.sh --profile $profile" "${extra[@]}"
}

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: subnet search under the budgets in $budgets -> $exp_dir/search"
  if [ -f $exp_dir/search/.done ]; then
    log "  $exp_dir/search/.done exists, skipping"
  else
    # shellcheck disable=SC2046
    # shellcheck disable=SC2086
    ./search.py $(ckpt_args) --bpe-model $lang_dir/bpe.model --manifest-dir $fbank_dir --budgets "$budgets" \
      $search_args $stream_args
    touch $exp_dir/search/.done
  fi
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: decode subnets: $(subnets | xargs -n1 basename | tr '\n' ' ')"
  args="$(ckpt_args) --test-sets $test_sets $stream_args"
  for subnet in $(subnets); do
    for method in greedy_search modified_beam_search; do
      # a subnet decoded with the same weights and options before (e.g. before the search ran) is skipped
      marker=$exp_dir/$method/.done-$(basename "$subnet" .json)-$(echo "$args" | md5sum | cut -c1-8)
      if [ -f "$marker" ]; then log "  $(basename "$subnet") $method: done before, skipping"; continue; fi
      # shellcheck disable=SC2086
      ./decode.py $args --bpe-model $lang_dir/bpe.model --manifest-dir $fbank_dir \
        --subnet "$subnet" --decoding-method $method --beam-size 4 --corpus-dir "$corpus_dir"
      touch "$marker"
    done
  done
fi

if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: export subnets for deployment -> $exp_dir/exported/"
  args="$(ckpt_args) --decode-sets $test_sets --streaming $streaming --decode-chunk-len $decode_chunk_len"
  for subnet in $(subnets); do
    name=$(basename "$subnet" .json)
    marker=$exp_dir/exported/.done-$name-$(echo "$args" | md5sum | cut -c1-8)
    if [ -f "$marker" ]; then log "  $name: exported before, skipping"; continue; fi
    # shellcheck disable=SC2086
    ./export.py $args --subnet "$subnet" --tokens $lang_dir/tokens.txt \
      --bpe-model $lang_dir/bpe.model --manifest-dir $fbank_dir
    touch "$marker"
  done
  log "  transcribing two test-clean files with sherpa-onnx (smallest subnet, int8):"
  # shellcheck disable=SC2046
  ./sherpa_onnx_pretrained.py --model-dir $exp_dir/exported/smallest --int8 true \
    $(find "$corpus_dir/test-clean" -name '*.flac' | sort | head -2)
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: learning curve and results"
  ./local/learning_curve.py --exp-dir $exp_dir --bpe-model $lang_dir/bpe.model --manifest-dir $fbank_dir \
    --points 10  # ten checkpoints spread over the whole training time, the last one the final checkpoint
  write_results
fi

# Train for a number of optimizer steps, into its own exp dir (baselines, ablations, attempts). Re-running with
# more steps continues the same run: Eden's schedule depends on the step only, so it equals one longer run.
# The checkpoints are kept as the supernet's are: the gap curve averages between consecutive ones.
train_alone() {  # dir max_steps extra-train-options...
  local dir=$1 steps=$2; shift 2
  if [ ! -f $dir/.train-$steps.done ]; then
    train_run "$dir" "$steps" "$@"
    touch $dir/.train-$steps.done
  fi
}

# An arm's (baseline, ablation, attempt) gap curve up to its steps, then the results archived arm by arm; an arm
# decoded up to those steps before (re-running the stage) is not decoded or logged again.
decode_arm() {  # dir steps subnets
  local marker=$1/.gap-curve-$2.done
  if [ -f $marker ]; then log "  $1: decoded up to step $2 before, skipping"; return; fi
  logged $1 ./local/gap_curve.py --exp-dir $1 --bpe-model $lang_dir/bpe.model \
    --manifest-dir $fbank_dir --subnets "$3" --every $gap_every
  touch $marker
  write_results
}

# An arm's final decodes of one subnet, as the supernet's subnets get them (stages 7-8): greedy and beam 4 with
# the same averaged weights, then the export and its model card.
decode_final() {  # dir subnet-json
  local marker=$1/.decode-$(basename $2 .json).done method
  if [ -f $marker ]; then return; fi
  for method in greedy_search modified_beam_search; do
    # shellcheck disable=SC2046
    logged $1 ./decode.py $(ckpt_args $1) --bpe-model $lang_dir/bpe.model --manifest-dir $fbank_dir \
      --subnet $2 --decoding-method $method --beam-size 4 --corpus-dir "$corpus_dir" --test-sets $test_sets
  done
  # shellcheck disable=SC2046
  logged $1 ./export.py $(ckpt_args $1) --subnet $2 --tokens $lang_dir/tokens.txt \
    --bpe-model $lang_dir/bpe.model --manifest-dir $fbank_dir --decode-sets $test_sets
  touch $marker
}

# A later session (the supernet's checkpoints gone, e.g. on another machine) continues stages 9-11 from the
# archive: the searched subnets and the supernet's side of the gap curve are copied back where they were made.
restore_from_archive() {
  local from=$archive/$(basename $exp_dir) path found
  [ -d "$from" ] && [ -z "$(last_iter)" ] || return 0  # a supernet here: its own search and curve count
  # The arms trained now get this run's data: the archived supernet must have had the same warm-up.
  local warmed=0 now=0
  grep -q -- "--train-parts [^ ]*-warmup " "$from/commands.txt" 2>/dev/null && warmed=1
  [ "${warmup_steps:-0}" -gt 0 ] && now=1
  if [ $warmed -ne $now ]; then
    echo "ERROR: $from: its supernet was trained $([ $warmed = 1 ] && echo with || echo without) a warm-up part," \
         "this run has --warmup-steps ${warmup_steps:-0}: use the same setting, or train the supernet again" >&2
    exit 1
  fi
  for path in search/subnet-*.json gap-curve.json; do
    for found in $from/$path; do
      [ -f "$found" ] || continue
      [ -f "$exp_dir/${found#$from/}" ] && continue
      mkdir -p "$(dirname "$exp_dir/${found#$from/}")"
      cp "$found" "$exp_dir/${found#$from/}"
      log "  restored $exp_dir/${found#$from/} from $from"
    done
  done
}

# An arm (baseline, ablation, attempt) not here whose last output is archived was made in an earlier session.
finished_in_archive() {  # dir output-pattern...: true when each pattern matches a file of the archived dir
  local pattern
  [ ! -e $1 ] || return 1
  for pattern in "${@:2}"; do ls $archive/$(basename $1)/$pattern >/dev/null 2>&1 || return 1; done
}
chosen_baseline() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['chosen'])" "$1"; }  # json

# A baseline finished in an earlier session (its bundle's model card and its gap curve archived): prints the
# archived dir (success) instead of training it again.
archived_baseline() {  # name
  local choice=$archive/$(basename $exp_dir)-baseline-$1.json chosen
  [ -f "$choice" ] && finished_in_archive ${exp_dir}-baseline-$1.json || return 1
  chosen=$(chosen_baseline "$choice")
  finished_in_archive $chosen exported/$1/model_card.json gap-curve.json || return 1
  echo "$archive/$chosen"
}

# The searched subnets, one per architecture (two budgets may choose the same one): "name path" lines.
searched_architectures() {
  declare -A seen=()
  for subnet in $exp_dir/search/subnet-*.json; do
    [ -f "$subnet" ] || { echo "ERROR: no $exp_dir/search/subnet-*.json: run stage 5 first" >&2; exit 1; }
    key=$(md5sum < "$subnet" | cut -d' ' -f1)
    [ -n "${seen[$key]:-}" ] && continue
    seen[$key]=1
    echo "$(basename $subnet .json) $subnet"
  done
}

if [ $stage -le 12 ] && [ $stop_stage -ge 9 ]; then restore_from_archive; fi

if [ $stage -le 9 ] && [ $stop_stage -ge 9 ]; then
  steps=$(last_iter); steps=${steps:-$train_steps}  # the supernet's steps (its profile's, once its checkpoints are gone)
  log "Stage 9: one-by-one baselines of the searched subnets ($steps optimizer steps each, as the supernet)"
  # Two passes, so that every architecture is compared early: first each one's dropout grid (the grid steps of
  # every rate, the best on dev, its gap curve so far), then each chosen run continued to the supernet's steps.
  searched_architectures | while read -r name subnet; do
    if archived=$(archived_baseline $name); then
      log "  $name: finished in an earlier session ($archived), skipped"; continue
    fi
    # The dropout an individually tuned model would get: the best of the grid on dev after the grid steps.
    grid_dirs=()
    for p in $baseline_dropouts; do
      dir=${exp_dir}-baseline-$name-dropout-$p
      grid_dirs+=("$dir")
      train_alone $dir $baseline_grid_steps --subnet $subnet --dropout-max $p
      if [ ! -f $dir/.dev-$baseline_grid_steps.done ]; then
        # shellcheck disable=SC2046
        logged $dir ./decode.py --exp-dir $dir --iter $baseline_grid_steps --avg 2 --use-averaged-model true \
          --bpe-model $lang_dir/bpe.model --manifest-dir $fbank_dir --subnet $subnet \
          --decoding-method greedy_search --test-sets dev-clean,dev-other
        touch $dir/.dev-$baseline_grid_steps.done
      fi
    done
    best=$(./local/pick_baseline.py --dirs "$(IFS=,; echo "${grid_dirs[*]}")" --iter $baseline_grid_steps \
      --out ${exp_dir}-baseline-$name.json)
    log "  $name: dropout grid ${baseline_dropouts// /, } on dev -> $best"
    decode_arm $best $baseline_grid_steps $subnet
  done
  searched_architectures | while read -r name subnet; do
    archived_baseline $name >/dev/null && continue
    best=$(chosen_baseline ${exp_dir}-baseline-$name.json)
    log "  $name: $best continued to $steps steps"
    train_alone $best $steps --subnet $subnet --dropout-max "${best##*-dropout-}"
    decode_final $best $subnet
    # its side of the gap curve now, while its checkpoints exist, then archived: each arm is whole on its own
    decode_arm $best $steps $subnet
  done
fi

if [ $stage -le 10 ] && [ $stop_stage -ge 10 ]; then
  steps=$(last_iter); steps=${ablation_steps:-${steps:-$train_steps}}
  log "Stage 10: ablations of the supernet recipe ($steps optimizer steps each), decoded every $gap_every steps"
  # cheapest first: Adam's warm-up differs from the supernet's, so it trains every step itself
  for ablation in "no-kd:--use-kd false" "fixed-dropout:--adaptive-dropout false" \
                  "no-sandwich:--sandwich false" "adam:--optimizer adam"; do
    name=${ablation%%:*}
    dir=${exp_dir}-ablation-$name
    if finished_in_archive $dir gap-curve.json; then
      log "  $name: finished in an earlier session ($archive/$(basename $dir)), skipped"; continue
    fi
    log "  $name (${ablation#*:}) -> $dir"
    # shellcheck disable=SC2086
    train_alone $dir $steps ${ablation#*:}
    # decoded as the supernet is on its gap curve (stage 11), so the two sides compare at equal steps
    decode_arm $dir $steps largest,smallest
  done
fi

if [ $stage -le 11 ] && [ $stop_stage -ge 11 ]; then
  log "Stage 11: the gap curve, every $gap_every steps: supernet subnets and their baselines"
  specs=$(searched_architectures | cut -d' ' -f2 | paste -sd,)
  logged $exp_dir ./local/gap_curve.py --exp-dir $exp_dir --bpe-model $lang_dir/bpe.model \
    --manifest-dir $fbank_dir --subnets "largest,smallest,$specs" --every $gap_every
  searched_architectures | while read -r name subnet; do
    [ -f ${exp_dir}-baseline-$name.json ] || { log "  $name: no baseline yet (stage 9), skipped"; continue; }
    best=$(chosen_baseline ${exp_dir}-baseline-$name.json)
    logged $best ./local/gap_curve.py --exp-dir $best --bpe-model $lang_dir/bpe.model \
      --manifest-dir $fbank_dir --subnets $subnet --every $gap_every
    logged $exp_dir ./local/time_scales.py --exp-dir $exp_dir --baseline-dir $best --subnet $subnet
  done
  write_results
fi

if [ $stage -le 12 ] && [ $stop_stage -ge 12 ]; then
  log "Stage 12: recipe attempts, $attempt_steps optimizer steps each, against the baselines at that step"
  full_steps=$(last_iter); full_steps=${full_steps:-$train_steps}
  specs=$(searched_architectures | cut -d' ' -f2 | paste -sd,)
  IFS=';' read -ra tries <<< "$attempts"
  for try in "${tries[@]}"; do
    name=${try%%:*}
    dir=${exp_dir}-attempt-$name
    if finished_in_archive $dir gap-curve.json; then
      log "  $name: finished in an earlier session ($archive/$(basename $dir)), skipped"; continue
    fi
    log "  $name (${try#*:}) -> $dir"
    # shellcheck disable=SC2086
    train_alone $dir $attempt_steps ${try#*:}
    # at the supernet's own steps, also the final decodes of the searched subnets: compared with the baselines'
    if [ "$attempt_steps" -eq "$full_steps" ]; then
      searched_architectures | while read -r _ subnet; do decode_final $dir $subnet; done
    fi
    decode_arm $dir $attempt_steps "largest,smallest,$specs"
  done
fi

log "Done (stages $stage..$stop_stage)."
