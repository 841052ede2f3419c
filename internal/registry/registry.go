// Package registry is the adapters' view of an auditlog.Registry: what a
// model's registration says, which models are registered, and the mask.
// The root package fills it in; applications only see the options.
package registry

import "reflect"

// Config is the registration of one model. A registry hands out read-only
// configs; registering a model again replaces its config with a new one.
type Config struct {
	// Type is the model's struct type.
	Type reflect.Type
	// Name is the stable model name stored on entries; empty means the
	// model's table name.
	Name string
	// Include, when not empty, lists the only fields that are audited.
	Include []string
	// Exclude lists fields that are never recorded; it wins over Include.
	Exclude []string
	// MaskFields are recorded masked.
	MaskFields []string
	// UnmaskFields are fields with a custom GORM serializer that are
	// recorded as the database stores them instead of masked.
	UnmaskFields []string
	// Mask is the model's own mask function; nil means the registry's.
	Mask func(clear string) string
	// DisplayNames maps field names to labels for display.
	DisplayNames map[string]string
	// Snapshot stores the object's state in serialized_data.
	Snapshot bool
	// SnapshotFields limits the snapshot to these fields.
	SnapshotFields []string
	// SnapshotAuditedOnly limits the snapshot to the audited fields.
	SnapshotAuditedOnly bool
	// M2MFields are many-to-many relations whose changes are audited.
	M2MFields []string
}

// View is what an adapter reads of a registry.
type View interface {
	// Lookup returns the registration of the struct type t.
	Lookup(t reflect.Type) (*Config, bool)
	// Models returns the registered struct types, sorted by name.
	Models() []reflect.Type
	// Generation changes whenever a model is registered or unregistered.
	Generation() uint64
	// Mask is the registry-wide mask function.
	Mask() func(clear string) string
}

// Of returns the view of an *auditlog.Registry. The root package sets it.
var Of func(registry any) View
