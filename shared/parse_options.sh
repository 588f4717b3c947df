#!/usr/bin/env bash
# Parses --long-option value pairs into shell variables, as Kaldi/icefall recipes expect:
#   --stop-stage 3   sets   stop_stage=3   (the variable must already be defined by the caller)
#   --help           prints the caller's header comment and the current option values.
# Source it after defining defaults:  . shared/parse_options.sh || exit 1
# Written for todm (same contract as Kaldi's utils/parse_options.sh).

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
      echo "Options (current values):"
      for __v in $(grep -oE '^[a-z_][a-z0-9_]*=' "$0" | tr -d '='); do
        printf '  --%s %s\n' "${__v//_/-}" "${!__v}"
      done
      exit 0 ;;
    --*=*)
      __name=${1%%=*}; __value=${1#*=}; shift ;;
    --*)
      __name=$1
      if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 1; fi
      __value=$2; shift 2 ;;
    *) break ;;
  esac
  __var=${__name#--}; __var=${__var//-/_}
  if ! declare -p "$__var" >/dev/null 2>&1; then
    echo "$0: unknown option $__name (see $0 --help)" >&2; exit 1
  fi
  # Keep boolean options honest: a true/false default accepts only true/false.
  __old=${!__var}
  if { [ "$__old" = true ] || [ "$__old" = false ]; } && [ "$__value" != true ] && [ "$__value" != false ]; then
    echo "$0: option $__name expects true or false, got '$__value'" >&2; exit 1
  fi
  printf -v "$__var" '%s' "$__value"
done
unset __name __value __var __old
true
