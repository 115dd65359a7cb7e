# The database: a primary in the primary region and a read replica in the secondary
# region, each placed in that region's subnets.

terraform {
  required_version = ">= 1.0"
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "2.1.2"
    }
  }
}

variable "db_name" {
  type = string
}

variable "engine_version" {
  type    = string
  default = "15.4"
}

variable "port" {
  type    = number
  default = 5432
}

variable "primary_region" {
  type = string
}

variable "primary_subnet_ids" {
  type = list(string)
}

variable "replica_region" {
  type = string
}

variable "replica_subnet_ids" {
  type = list(string)
}

resource "null_resource" "primary" {
  triggers = {
    db_name        = var.db_name
    engine_version = var.engine_version
    region         = var.primary_region
    subnet_ids     = jsonencode(var.primary_subnet_ids)
  }
}

resource "null_resource" "replica" {
  triggers = {
    source     = null_resource.primary.id
    region     = var.replica_region
    subnet_ids = jsonencode(var.replica_subnet_ids)
  }
}

locals {
  endpoints = {
    (var.primary_region) = "${var.db_name}-${substr(sha1(null_resource.primary.id), 0, 8)}.${var.primary_region}.db.internal"
    (var.replica_region) = "${var.db_name}-${substr(sha1(null_resource.replica.id), 0, 8)}.${var.replica_region}.db.internal"
  }
}

output "primary_endpoint" {
  value = local.endpoints[var.primary_region]
}

output "endpoints" {
  description = "Region => endpoint (the replica is read-only)."
  value       = tomap(local.endpoints)
}

output "port" {
  value = var.port
}

# Deterministic stand-in for a generated master password: derived from the
# primary's id, so it only changes when the primary is replaced.
output "db_password" {
  value     = substr(sha256("${var.db_name}:${null_resource.primary.id}"), 0, 24)
  sensitive = true
}
