package deploy

import (
	"encoding/base64"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "helm/orybot"

// Dummy secrets, recognisable wherever they leak to.
const (
	botToken    = "xoxb-TEST-SECRET"
	appToken    = "xapp-TEST-SECRET"
	apiKey      = "ory_pat_TEST-SECRET"
	databaseURL = "postgres://orybot:TEST-SECRET-PASSWORD@postgres:5432/orybot"
)

// secretValues sets the chart-created Secret's values to the dummies.
var secretValues = map[string]any{
	"SLACK_BOT_TOKEN": botToken,
	"SLACK_APP_TOKEN": appToken,
	"ORY_API_KEY":     apiKey,
}

// object is one rendered Kubernetes object.
type object struct {
	Kind, Name string
	Source     string // the template it came from
	YAML       []byte
}

// manifest is what one helm install would apply.
type manifest struct {
	objects []object
	notes   string
}

// loadChart loads the chart as helm install does.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return c
}

// valuesFile reads a values file of the chart, such as ci/postgres-values.yaml.
func valuesFile(t *testing.T, name string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(path.Join(chartDir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return v
}

// renderErr renders the chart with vals (merged over values.yaml, as -f
// does) in strict mode, which fails on a reference to an undefined value.
func renderErr(t *testing.T, vals map[string]any) (manifest, error) {
	t.Helper()
	c := loadChart(t)
	rv, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{
		Name: "orybot", Namespace: "ops", Revision: 1, IsInstall: true,
	}, nil)
	if err != nil {
		return manifest{}, err
	}
	files, err := engine.Engine{Strict: true}.Render(c, rv)
	if err != nil {
		return manifest{}, err
	}
	var m manifest
	for name, out := range files {
		switch {
		case path.Base(name) == "NOTES.txt":
			m.notes = out
			continue
		case strings.HasPrefix(path.Base(name), "_"):
			continue
		}
		for _, doc := range releaseutil.SplitManifests(out) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s: not YAML: %v\n%s", name, err, doc)
			}
			if head.APIVersion == "" || head.Kind == "" || head.Metadata.Name == "" {
				t.Fatalf("%s: an object without apiVersion, kind or name:\n%s", name, doc)
			}
			m.objects = append(m.objects, object{Kind: head.Kind, Name: head.Metadata.Name, Source: name, YAML: []byte(doc)})
		}
	}
	slices.SortFunc(m.objects, func(a, b object) int { return strings.Compare(a.Kind+"/"+a.Name, b.Kind+"/"+b.Name) })
	return m, nil
}

func render(t *testing.T, vals map[string]any) manifest {
	t.Helper()
	m, err := renderErr(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return m
}

func (m manifest) all(kind string) []object {
	var out []object
	for _, o := range m.objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// one decodes the only object of kind into T, rejecting unknown fields, so
// that a misspelt or misplaced field fails the test as it would fail kubectl.
func one[T any](t *testing.T, m manifest, kind string) T {
	t.Helper()
	objs := m.all(kind)
	if len(objs) != 1 {
		t.Fatalf("want one %s, got %d: %v", kind, len(objs), m.kinds())
	}
	return decode[T](t, objs[0])
}

func decode[T any](t *testing.T, o object) T {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict(o.YAML, &v); err != nil {
		t.Fatalf("%s %s from %s: %v\n%s", o.Kind, o.Name, o.Source, err, o.YAML)
	}
	return v
}

func (m manifest) kinds() []string {
	var out []string
	for _, o := range m.objects {
		out = append(out, o.Kind+"/"+o.Name)
	}
	return out
}

func container(t *testing.T, d appsv1.Deployment) corev1.Container {
	t.Helper()
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("want one container, got %d", n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

func env(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// checkDeployment checks what every rendering must get right: the probes,
// the port, the security context, the Secret references and the labels.
func checkDeployment(t *testing.T, m manifest, wantPort int32) appsv1.Deployment {
	t.Helper()
	d := one[appsv1.Deployment](t, m, "Deployment")
	c := container(t, d)

	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != wantPort {
		t.Fatalf("container ports = %+v, want one named http on %d", c.Ports, wantPort)
	}
	listen, ok := env(c, "ORYBOT_LISTEN_ADDR")
	if !ok {
		t.Fatal("ORYBOT_LISTEN_ADDR not set")
	}
	_, port, err := net.SplitHostPort(listen.Value)
	if err != nil || port != strconv.Itoa(int(wantPort)) {
		t.Errorf("ORYBOT_LISTEN_ADDR = %q, want port %d", listen.Value, wantPort)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"startup", c.StartupProbe, "/healthz"},
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe = %+v, want an HTTP GET", p.name, p.probe)
			continue
		}
		if got := p.probe.HTTPGet.Path; got != p.path {
			t.Errorf("%s probe path = %q, want %q", p.name, got, p.path)
		}
		if got := p.probe.HTTPGet.Port.IntValue(); got != int(wantPort) {
			t.Errorf("%s probe port = %v, want %d", p.name, p.probe.HTTPGet.Port, wantPort)
		}
	}

	pod := d.Spec.Template.Spec.SecurityContext
	sc := c.SecurityContext
	switch {
	case pod == nil || sc == nil:
		t.Errorf("security contexts: pod %+v, container %+v", pod, sc)
	case pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.RunAsUser == nil || *pod.RunAsUser != 65532:
		t.Errorf("pod securityContext = %+v, want runAsNonRoot and runAsUser 65532", pod)
	case pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("pod seccompProfile = %+v, want RuntimeDefault", pod.SeccompProfile)
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532:
		t.Errorf("container securityContext = %+v, want runAsNonRoot and runAsUser 65532", sc)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("container root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("container allows privilege escalation")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("container capabilities = %+v, want all dropped", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("container seccompProfile = %+v, want RuntimeDefault", sc.SeccompProfile)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want memory requests and limits", c.Resources)
	}

	labels := d.Spec.Template.Labels
	for k, v := range d.Spec.Selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("pod label %s = %q, the selector wants %q", k, labels[k], v)
		}
	}
	svc := one[corev1.Service](t, m, "Service")
	for k, v := range svc.Spec.Selector {
		if labels[k] != v {
			t.Errorf("pod label %s = %q, the Service selects %q", k, labels[k], v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports = %+v, want one named http to the container's http port", svc.Spec.Ports)
	}
	return d
}

// secretRef says which Secret and key an environment variable comes from.
func secretRef(t *testing.T, c corev1.Container, name string) (secret, key string) {
	t.Helper()
	e, ok := env(c, name)
	if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.Value != "" {
		t.Fatalf("%s = %+v, want it from a secretKeyRef", name, e)
	}
	return e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key
}

// checkSecrets checks that each secret value is in the Secret the
// Deployment refers to, and nowhere else: no ConfigMap, no other object, no
// NOTES.txt, plain or base64-encoded.
func checkSecrets(t *testing.T, m manifest, d appsv1.Deployment, want map[string]string) {
	t.Helper()
	c := container(t, d)
	secrets := map[string]corev1.Secret{}
	for _, o := range m.all("Secret") {
		secrets[o.Name] = decode[corev1.Secret](t, o)
	}
	for variable, value := range want {
		name, key := secretRef(t, c, variable)
		s, ok := secrets[name]
		if !ok {
			t.Errorf("%s: Secret %q is not rendered", variable, name)
		} else if got := string(s.Data[key]); got != value {
			t.Errorf("%s: Secret %s key %s = %q, want %q", variable, name, key, got, value)
		}
		encoded := base64.StdEncoding.EncodeToString([]byte(value))
		for _, o := range m.objects {
			if o.Kind != "Secret" && (strings.Contains(string(o.YAML), value) || strings.Contains(string(o.YAML), encoded)) {
				t.Errorf("%s's value appears in %s %s:\n%s", variable, o.Kind, o.Name, o.YAML)
			}
		}
		if strings.Contains(m.notes, value) {
			t.Errorf("%s's value appears in NOTES.txt", variable)
		}
	}
}

// replicas is the Deployment's pod count; Kubernetes defaults a missing one to 1.
func replicas(d appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func volumeMount(c corev1.Container, mountPath string) (corev1.VolumeMount, bool) {
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == mountPath {
			return vm, true
		}
	}
	return corev1.VolumeMount{}, false
}

func volume(d appsv1.Deployment, name string) (corev1.Volume, bool) {
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	return corev1.Volume{}, false
}

// checkSQLite checks the default storage: one pod, stopped before its
// successor starts, with the database on a claim mounted at /data.
func checkSQLite(t *testing.T, m manifest, d appsv1.Deployment) {
	t.Helper()
	if got := replicas(d); got != 1 {
		t.Errorf("replicas = %d, want 1 with SQLite", got)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy = %q, want Recreate with SQLite", d.Spec.Strategy.Type)
	}
	c := container(t, d)
	if e, _ := env(c, "ORYBOT_DATABASE_URL"); e.Value != "/data/orybot.db" {
		t.Errorf("ORYBOT_DATABASE_URL = %+v, want /data/orybot.db", e)
	}
	pvc := one[corev1.PersistentVolumeClaim](t, m, "PersistentVolumeClaim")
	vm, ok := volumeMount(c, "/data")
	if !ok {
		t.Fatal("nothing is mounted at /data")
	}
	if v, _ := volume(d, vm.Name); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name {
		t.Errorf("volume at /data = %+v, want the claim %s", v, pvc.Name)
	}
	if vm.ReadOnly {
		t.Error("/data is mounted read-only")
	}
}

func TestDefaultValues(t *testing.T) {
	m := render(t, nil)
	d := checkDeployment(t, m, 8080)
	checkSQLite(t, m, d)
	c := container(t, d)
	if want := "orybot:0.1.0"; c.Image != want {
		t.Errorf("image = %q, want %q (the chart's appVersion)", c.Image, want)
	}
	// Nothing is set, so the ConfigMap must not invent settings: the bot
	// treats a variable set to "" as unset, but a value here would override
	// its default.
	if cm := one[corev1.ConfigMap](t, m, "ConfigMap"); len(cm.Data) != 0 {
		t.Errorf("ConfigMap data = %v, want none with default values", cm.Data)
	}
}

// TestSQLiteIgnoresReplicaCount renders SQLite with values that would run
// three pods, a listen port other than the default, and secrets.
func TestSQLiteIgnoresReplicaCount(t *testing.T) {
	m := render(t, map[string]any{
		"replicaCount": 3,
		"listenPort":   9090,
		"secret":       secretValues,
		"config": map[string]any{
			"ORYBOT_AUDIT_CHANNEL": "C0123456789",
			"ORYBOT_APPROVERS":     []any{"U0123456789", "S0123456789"},
			"ORYBOT_LOG_LEVEL":     "",
		},
	})
	d := checkDeployment(t, m, 9090)
	checkSQLite(t, m, d)
	checkSecrets(t, m, d, map[string]string{
		"SLACK_BOT_TOKEN": botToken,
		"SLACK_APP_TOKEN": appToken,
		"ORY_API_KEY":     apiKey,
	})
	cm := one[corev1.ConfigMap](t, m, "ConfigMap")
	if got, want := cm.Data["ORYBOT_APPROVERS"], "U0123456789,S0123456789"; got != want {
		t.Errorf("ORYBOT_APPROVERS = %q, want the list joined: %q", got, want)
	}
	if _, ok := cm.Data["ORYBOT_LOG_LEVEL"]; ok {
		t.Error("an empty ORYBOT_LOG_LEVEL is in the ConfigMap; empty means not set")
	}
	if !strings.Contains(m.notes, "replicaCount 3 is ignored") {
		t.Errorf("NOTES.txt does not say that replicaCount is ignored:\n%s", m.notes)
	}
}

func TestPostgresValues(t *testing.T) {
	vals := valuesFile(t, "ci/postgres-values.yaml")
	m := render(t, vals)
	d := checkDeployment(t, m, 8080)
	if got := replicas(d); got != 3 {
		t.Errorf("replicas = %d, want 3 as set", got)
	}
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("strategy = %q, want RollingUpdate", d.Spec.Strategy.Type)
	}
	if got := m.all("PersistentVolumeClaim"); len(got) != 0 {
		t.Errorf("a claim is rendered for PostgreSQL: %v", m.kinds())
	}
	if _, ok := volumeMount(container(t, d), "/data"); ok {
		t.Error("/data is mounted for PostgreSQL")
	}
	checkSecrets(t, m, d, map[string]string{
		"SLACK_BOT_TOKEN":     botToken,
		"SLACK_APP_TOKEN":     appToken,
		"ORY_API_KEY":         apiKey,
		"ORYBOT_DATABASE_URL": databaseURL,
	})
}

// TestServiceMonitor checks that the ServiceMonitor is rendered only when
// enabled, and then finds the Service and its /metrics.
func TestServiceMonitor(t *testing.T) {
	m := render(t, nil)
	if got := m.all("ServiceMonitor"); len(got) != 0 {
		t.Errorf("ServiceMonitor rendered though it is off by default: %v", m.kinds())
	}
	m = render(t, map[string]any{"serviceMonitor": map[string]any{
		"enabled": true,
		"labels":  map[string]any{"release": "kube-prometheus-stack"},
	}})
	sms := m.all("ServiceMonitor")
	if len(sms) != 1 {
		t.Fatalf("want one ServiceMonitor, got %v", m.kinds())
	}
	var sm struct {
		APIVersion string `json:"apiVersion"`
		Metadata   struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Endpoints []struct {
				Port string `json:"port"`
				Path string `json:"path"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(sms[0].YAML, &sm); err != nil {
		t.Fatal(err)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion = %q", sm.APIVersion)
	}
	if sm.Metadata.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels = %v, want serviceMonitor.labels among them", sm.Metadata.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints = %+v, want port http, path /metrics", sm.Spec.Endpoints)
	}
	svc := one[corev1.Service](t, m, "Service")
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("Service label %s = %q, the ServiceMonitor selects %q", k, svc.Labels[k], v)
		}
	}
}

// TestExistingSecrets checks that with secrets managed outside the chart,
// the chart creates none and refers to the named ones.
func TestExistingSecrets(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		// variable → Secret name and key
		want map[string][2]string
	}{{
		name: "sqlite",
		vals: map[string]any{"existingSecret": "slack-and-ory"},
		want: map[string][2]string{
			"SLACK_BOT_TOKEN": {"slack-and-ory", "SLACK_BOT_TOKEN"},
			"SLACK_APP_TOKEN": {"slack-and-ory", "SLACK_APP_TOKEN"},
			"ORY_API_KEY":     {"slack-and-ory", "ORY_API_KEY"},
		},
	}, {
		name: "postgres",
		vals: map[string]any{
			"existingSecret": "slack-and-ory",
			"replicaCount":   2,
			"database": map[string]any{
				"type": "postgres",
				"postgres": map[string]any{
					"existingSecret":    "orybot-pg",
					"existingSecretKey": "uri",
				},
			},
		},
		want: map[string][2]string{
			"SLACK_BOT_TOKEN":     {"slack-and-ory", "SLACK_BOT_TOKEN"},
			"ORYBOT_DATABASE_URL": {"orybot-pg", "uri"},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m := render(t, tc.vals)
			if got := m.all("Secret"); len(got) != 0 {
				t.Errorf("Secrets rendered though existing ones are named: %v", m.kinds())
			}
			c := container(t, checkDeployment(t, m, 8080))
			for variable, want := range tc.want {
				if name, key := secretRef(t, c, variable); name != want[0] || key != want[1] {
					t.Errorf("%s from Secret %s key %s, want %s key %s", variable, name, key, want[0], want[1])
				}
			}
		})
	}
}

// TestRefusedValues checks that values which would lose data or leak a
// secret stop the install instead.
func TestRefusedValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string // in the error
	}{{
		name: "unknown database",
		vals: map[string]any{"database": map[string]any{"type": "mysql"}},
		want: "database.type must be sqlite or postgres",
	}, {
		name: "postgres without a URL",
		vals: map[string]any{"database": map[string]any{"type": "postgres"}},
		want: "database.postgres.url or database.postgres.existingSecret is required",
	}, {
		name: "token in config",
		vals: map[string]any{"config": map[string]any{"SLACK_BOT_TOKEN": botToken}},
		want: "config.SLACK_BOT_TOKEN: set it with secret.SLACK_BOT_TOKEN",
	}, {
		name: "database URL in config",
		vals: map[string]any{"config": map[string]any{"ORYBOT_DATABASE_URL": databaseURL}},
		want: "config.ORYBOT_DATABASE_URL: set it with database",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderErr(t, tc.vals)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("render error = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), botToken) || strings.Contains(err.Error(), "TEST-SECRET-PASSWORD") {
				t.Errorf("the error repeats a secret: %v", err)
			}
		})
	}
}
