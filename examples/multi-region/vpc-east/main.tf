# Regional network for the primary region (us-east-1).
# Stand-in for an aws_vpc: a null_resource whose triggers carry the VPC's settings,
# so changing any of them replaces the "VPC" just as a real ForceNew attribute would.

terraform {
  required_version = ">= 1.0"
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "2.1.2"
    }
  }
}

variable "region" {
  type        = string
  description = "Cloud region of this network (set by infra.yaml `vars`)."
}

variable "cidr_block" {
  type        = string
  description = "Address space of the VPC."
}

variable "availability_zones" {
  type        = list(string)
  description = "Zones that subnets are spread across."
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to everything in the region."
  default     = {}
}

locals {
  tags = merge(var.tags, { Region = var.region })
}

resource "null_resource" "vpc" {
  triggers = {
    region     = var.region
    cidr_block = var.cidr_block
    azs        = jsonencode(var.availability_zones)
    tags       = jsonencode(local.tags)
  }
}

output "region" {
  value = var.region
}

output "vpc_id" {
  value = "vpc-${substr(sha1(null_resource.vpc.id), 0, 17)}"
}

output "cidr_block" {
  value = var.cidr_block
}

output "availability_zones" {
  value = var.availability_zones
}

# tomap()/tolist() give outputs real map/list types; a bare {...} or [for ...]
# would be reported by `terraform output -json` as an object or a tuple.
output "tags" {
  value = tomap(local.tags)
}
