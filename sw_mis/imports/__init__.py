"""Bulk import of households and members from CSV and XLSX survey exports."""
