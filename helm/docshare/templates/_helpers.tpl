{{/* Names and labels. */}}
{{- define "docshare.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "docshare.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "docshare.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "docshare.selectorLabels" -}}
app.kubernetes.io/name: {{ include "docshare.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "docshare.labels" -}}
helm.sh/chart: {{ include "docshare.chart" . }}
{{ include "docshare.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: docshare
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "docshare.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "docshare.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "docshare.secretName" -}}
{{- default (include "docshare.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "docshare.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The backplane the pods use: backplane.redisUrl, else config.backplane, else "" (memory).
*/}}
{{- define "docshare.backplane" -}}
{{- $url := .Values.backplane.redisUrl | default "" | toString }}
{{- $cfg := .Values.config.backplane | default "" | toString }}
{{- if and $url $cfg (ne $url $cfg) }}
{{- fail (printf "backplane.redisUrl (%s) and config.backplane (%s) disagree: set only backplane.redisUrl" $url $cfg) }}
{{- end }}
{{- default $cfg $url }}
{{- end }}

{{/*
A config value as an env string. YAML numbers arrive as float64: print whole numbers
without an exponent (1073741824, not 1.073741824e+09).
*/}}
{{- define "docshare.envValue" -}}
{{- $v := . }}
{{- if kindIs "float64" $v }}
{{- if eq $v (floor $v) }}{{ printf "%.0f" $v }}{{ else }}{{ $v }}{{ end }}
{{- else }}
{{- $v | toString }}
{{- end }}
{{- end }}

{{/*
Render workers when config.renderWorkers is empty: the container's CPU limit (else its
request) rounded up, so a pod never starts one worker per core of a large node.
*/}}
{{- define "docshare.renderWorkers" -}}
{{- $cpu := .Values.resources.limits.cpu | default .Values.resources.requests.cpu | default "" | toString }}
{{- if hasSuffix "m" $cpu }}
{{- max 1 (div (add (trimSuffix "m" $cpu | atoi) 999) 1000) }}
{{- else if $cpu }}
{{- max 1 (ceil ($cpu | float64) | int) }}
{{- end }}
{{- end }}

{{/* The drain timeout in seconds, as the server will use it. */}}
{{- define "docshare.drainTimeoutSeconds" -}}
{{- $d := .Values.config.drainTimeout }}
{{- if or (kindIs "invalid" $d) (eq (toString $d) "") }}20{{ else }}{{ include "docshare.envValue" $d }}{{ end }}
{{- end }}

{{/* Checks that stop a broken release before it reaches the cluster. */}}
{{- define "docshare.validate" -}}
{{- $backplane := include "docshare.backplane" . }}
{{- $multi := or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled }}
{{- if and $multi (not (hasPrefix "redis://" $backplane)) }}
{{- $what := ternary (printf "autoscaling (up to %v replicas)" .Values.autoscaling.maxReplicas) (printf "replicaCount=%v" .Values.replicaCount) .Values.autoscaling.enabled }}
{{- fail (printf "%s with the in-memory backplane: sessions would split between pods: set backplane.redisUrl (redis://host:port[/db])" $what) }}
{{- end }}
{{- if and $backplane (ne $backplane "memory") (not (hasPrefix "redis://" $backplane)) }}
{{- fail (printf "backplane %q: expected memory or redis://host:port[/db]" $backplane) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas is greater than autoscaling.maxReplicas" }}
{{- end }}
{{- $needed := add (int .Values.preStopSleepSeconds) (int (include "docshare.drainTimeoutSeconds" .)) }}
{{- if le (int .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + drain timeout (%v s), or in-flight shares are killed" .Values.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- if and .Values.tls.clientCa (not .Values.tls.secretName) }}
{{- fail "tls.clientCa needs tls.secretName (a Secret with ca.crt)" }}
{{- end }}
{{- end }}
