{{/* Chart name, cut to the 63 characters a label value may hold. */}}
{{- define "orybot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of every object: the release name, with the chart's name unless it already holds it. */}}
{{- define "orybot.fullname" -}}
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

{{- define "orybot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orybot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "orybot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "orybot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret holding the Slack tokens and the Ory API key. */}}
{{- define "orybot.secretName" -}}
{{- .Values.existingSecret | default (include "orybot.fullname" .) }}
{{- end }}

{{/*
"true" when the bot keeps its database in SQLite, "" for PostgreSQL; fails
on any other database.type, so a typo cannot silently pick a backend.
*/}}
{{- define "orybot.sqlite" -}}
{{- $type := .Values.database.type | toString | lower }}
{{- if eq $type "sqlite" }}true
{{- else if ne $type "postgres" }}
{{- fail (printf "database.type must be sqlite or postgres, not %q" .Values.database.type) }}
{{- end }}
{{- end }}

{{/* The Secret and key holding ORYBOT_DATABASE_URL, for PostgreSQL. */}}
{{- define "orybot.databaseSecretName" -}}
{{- .Values.database.postgres.existingSecret | default (printf "%s-database" (include "orybot.fullname" .)) }}
{{- end }}
{{- define "orybot.databaseSecretKey" -}}
{{- if .Values.database.postgres.existingSecret }}
{{- .Values.database.postgres.existingSecretKey | default "ORYBOT_DATABASE_URL" }}
{{- else -}}
ORYBOT_DATABASE_URL
{{- end }}
{{- end }}

{{/*
The ConfigMap's data: every non-empty entry of config, lists joined with
commas. Variables that are secret, or that the chart sets itself, are
refused here so that a secret never lands in a ConfigMap by mistake.
*/}}
{{- define "orybot.configData" -}}
{{- $refused := dict
  "SLACK_BOT_TOKEN" "secret.SLACK_BOT_TOKEN (or existingSecret)"
  "SLACK_APP_TOKEN" "secret.SLACK_APP_TOKEN (or existingSecret)"
  "ORY_API_KEY" "secret.ORY_API_KEY (or existingSecret)"
  "ORYBOT_DATABASE_URL" "database"
  "ORYBOT_LISTEN_ADDR" "listenPort" }}
{{- range $key, $value := .Values.config }}
{{- if hasKey $refused $key }}
{{- fail (printf "config.%s: set it with %s instead" $key (get $refused $key)) }}
{{- end }}
{{- if kindIs "slice" $value }}
{{- $value = join "," $value }}
{{- end }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
{{ $key }}: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}
