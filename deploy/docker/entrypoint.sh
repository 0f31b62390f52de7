#!/bin/sh
# Entrypoint of the mtl-service images.
#   service [FLAGS]  ->  mtl-service serve FLAGS   (the default)
#   worker  [FLAGS]  ->  mtl-worker FLAGS
#   anything else    ->  run it as given (a shell, mtlctl, ...)
set -eu
if [ "$#" -eq 0 ]; then
    set -- service
fi
case "$1" in
    service) shift; exec mtl-service serve "$@" ;;
    worker) shift; exec mtl-worker "$@" ;;
    *) exec "$@" ;;
esac
