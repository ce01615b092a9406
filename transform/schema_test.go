package transform

import "github.com/feathrgo/feathr/record"

// driverTrips is the schema of Feathr's streaming example, with nullable,
// double, string and array fields added.
var driverTrips = record.Schema{Fields: []record.Field{
	{Name: "driver_id", Type: record.Type{Kind: record.Int}},
	{Name: "trips_today", Type: record.Type{Kind: record.Int}},
	{Name: "datetime", Type: record.Type{Kind: record.Timestamp}},
	{Name: "trip_distance", Type: record.Type{Kind: record.Float}},
	{Name: "city", Type: record.Type{Kind: record.String}},
	{Name: "fare", Type: record.Type{Kind: record.Float, Nullable: true}},
	{Name: "rating", Type: record.Type{Kind: record.Float, Nullable: true}},
	{Name: "bonus", Type: record.Type{Kind: record.Int, Nullable: true}},
	{Name: "note", Type: record.Type{Kind: record.String, Nullable: true}},
	{Name: "active", Type: record.Type{Kind: record.Bool, Nullable: true}},
	{Name: "pickup", Type: record.Type{Kind: record.String}},
	{Name: "dropoff", Type: record.Type{Kind: record.Timestamp, Nullable: true}},
	{Name: "tags", Type: record.Type{Kind: record.Array, Elem: &record.Type{Kind: record.String}}},
	{Name: "scores", Type: record.Type{Kind: record.Array, Elem: &record.Type{Kind: record.Float}}},
	{Name: "payload", Type: record.Type{Kind: record.Bytes, Nullable: true}},
	{Name: "extra", Type: record.Type{Kind: record.Any}},
}}
