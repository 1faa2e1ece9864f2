#!/bin/sh
# Example activity: appends one line per anomaly to $ANOMALY_LOG (relative to
# this folder). Arguments: instance, value, forecast. The anomaly's context is
# also in the environment: KAD_ACTIVITY, KAD_METRIC, KAD_LABELS (JSON),
# KAD_VALUE, KAD_YHAT, KAD_YHAT_LOWER, KAD_YHAT_UPPER, KAD_ANOMALY_SCORE,
# KAD_TIMESTAMP.
printf '%s %s instance=%s value=%s yhat=%s score=%s labels=%s\n' \
  "$KAD_TIMESTAMP" "$KAD_ACTIVITY" "$1" "$2" "$3" "$KAD_ANOMALY_SCORE" "$KAD_LABELS" \
  >> "${ANOMALY_LOG:-anomalies.log}"
